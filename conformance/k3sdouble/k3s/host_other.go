//go:build !linux

package k3s

func cgroupV1() bool { return false }

func kernelRelease() string { return "" }
