//go:build !unix

package loadbalancer

// dropPrivileges has nothing to do where the proxy cannot run as root: the
// proxy only runs in Linux containers, this file keeps k3d building elsewhere.
func dropPrivileges(to int, logf func(string, ...any)) error { return nil }
