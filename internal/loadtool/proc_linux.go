package loadtool

import "syscall"

// ChildProcAttr puts cityops in a process group of its own, so that a
// Ctrl-C in the terminal reaches only the load tool (which stops the
// server with SIGTERM after printing its figures), and has the kernel send
// it SIGTERM should the tool die without stopping it.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
