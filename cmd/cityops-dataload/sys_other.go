//go:build !linux

package main

// filesystemSpace is measured on Linux only.
func filesystemSpace(string) (size, avail uint64, ok bool) { return 0, 0, false }
