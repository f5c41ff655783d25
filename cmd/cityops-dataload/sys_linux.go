package main

import "syscall"

// filesystemSpace returns the size and the free space, in bytes, of the
// filesystem that holds dir (what df prints).
func filesystemSpace(dir string) (size, avail uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), true
}
