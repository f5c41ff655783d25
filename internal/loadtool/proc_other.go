//go:build !linux

package loadtool

import "syscall"

// ChildProcAttr leaves the process attributes alone off Linux.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
