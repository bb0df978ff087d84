// Package e2e holds the end-to-end tests and benchmarks that drive the built k3d
// binary against real runtimes, named in K3D_TEST_RUNTIMES, with the k3s test double.
package e2e
