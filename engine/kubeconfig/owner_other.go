//go:build !unix

package kubeconfig

import "io/fs"

// keepOwner has nothing to do where files carry no Unix owner.
func keepOwner(string, fs.FileInfo) {}
