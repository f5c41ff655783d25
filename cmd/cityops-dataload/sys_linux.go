package main

import "syscall"

// childProcAttr puts cityops in a process group of its own, so that a
// Ctrl-C in the terminal reaches only this tool (which stops the server
// with SIGTERM after printing its figures), and has the kernel send it
// SIGTERM should this tool die without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// filesystemSpace returns the size and the free space, in bytes, of the
// filesystem that holds dir (what df prints).
func filesystemSpace(dir string) (size, avail uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), true
}
