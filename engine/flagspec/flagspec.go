// Package flagspec parses the values of k3d's -p/--port, -v/--volume, -e/--env, --label and
// --k3s-arg flags, each with its optional `@nodefilter` target, and resolves which nodes
// a value applies to.
//
// Every Parse function takes the whole flag value (`8080:80@loadbalancer`), splits it
// with nodefilter.Split (first unescaped '@'; write `\@` for a literal '@') and returns
// a typed value carrying its Filters. Errors are one line, quote the value as typed and
// say what to write instead.
//
// Targets when a value names no node (see each type's Targets method):
//
//	--port     through the load balancer to every server and agent (k3d v5's default,
//	           servers:*:proxy;agents:*:proxy); without a load balancer, directly on the
//	           lowest-numbered server
//	--volume   every server and agent
//	--env      every server and agent
//	--label    every node, the load balancer included
//	--k3s-arg  the cluster's only k3s node; with more than one a filter is required, as in
//	           k3d v5, because a server-only flag given to an agent makes k3s exit
//
// `@all` means every node including the load balancer (as in k3d v5), except for k3s
// args, where it means every k3s node: the load balancer does not run k3s.
package flagspec
