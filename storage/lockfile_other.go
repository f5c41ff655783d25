//go:build !unix

package storage

import (
	"fmt"
	"os"
)

// lockFile opens path; without flock(2) the lock is not taken, and
// nothing stops a second process from keeping roll-ups behind.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return f, nil
}
