//go:build !linux

package main

import "syscall"

// childProcAttr leaves the process attributes alone off Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }

// filesystemSpace is measured on Linux only.
func filesystemSpace(string) (size, avail uint64, ok bool) { return 0, 0, false }
