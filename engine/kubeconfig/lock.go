package kubeconfig

import (
	"time"

	"github.com/k3d/k3d/engine/filelock"
)

// fileLock guards the kubeconfig at a path: its lock file is path+".lock",
// beside it, so every k3d writing that file takes the same lock.
type fileLock struct{ l *filelock.Lock }

// acquire takes the lock for the kubeconfig at path, waiting at most timeout.
func acquire(path string, timeout time.Duration) (*fileLock, error) {
	l, err := filelock.Acquire(path+".lock", timeout)
	if err != nil {
		return nil, err
	}
	return &fileLock{l: l}, nil
}

func (l *fileLock) release() { l.l.Release() }
