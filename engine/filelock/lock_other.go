//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly || windows)

package filelock

import (
	"errors"
	"os"
)

const removeWhileLocked = false

func tryLock(*os.File) error {
	return errors.New("file locking is not implemented on this platform")
}
