package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultClusterName is the cluster a command acts on when none is named.
const DefaultClusterName = "k3s-default"

// maxClusterNameLength keeps k3d-<cluster>-serverlb and k3d-<cluster>-agent-NNN
// within the 63-character limit of hostnames, as k3d v5 does.
const maxClusterNameLength = 32

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateClusterName says what is wrong with name, if anything.
func ValidateClusterName(name string) error {
	if name == "" {
		return invalidf("cluster name is empty: give a name such as %q", DefaultClusterName)
	}
	if len(name) > maxClusterNameLength {
		return invalidf("cluster name %q is %d characters long: use at most %d", name, len(name), maxClusterNameLength)
	}
	if !dns1123Label.MatchString(name) {
		return invalidf("cluster name %q is not a valid DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// NodeName is the container name of the index-th node of role in cluster.
func NodeName(cluster string, role Role, index int) string {
	return fmt.Sprintf("k3d-%s-%s-%d", cluster, role, index)
}

// LoadBalancerName is the container name of a cluster's load balancer.
func LoadBalancerName(cluster string) string { return "k3d-" + cluster + "-serverlb" }

// NetworkName is the name of the network k3d creates for a cluster.
func NetworkName(cluster string) string { return "k3d-" + cluster }

// ImageVolumeName is the name of the volume a cluster's nodes share for image import.
func ImageVolumeName(cluster string) string { return "k3d-" + cluster + "-images" }

// ObjectName adds k3d's prefix to a user-given name unless it has it already.
func ObjectName(name string) string {
	if strings.HasPrefix(name, "k3d-") {
		return name
	}
	return "k3d-" + name
}

// nodeIndex recovers a node's index from its name (k3d-dev-agent-3 -> 3), or
// -1 when the name does not end in one (nodes added by hand under other names).
func nodeIndex(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}
