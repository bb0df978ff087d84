// Package version holds k3d's own version, set at build time by the Makefile.
package version

// Version is overwritten with -ldflags "-X github.com/k3d/k3d/version.Version=...".
var Version = "dev"
