package containerd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/k3d/k3d/backends"
)

// subnetPool is where networks created without a subnet get theirs, one /24
// each: away from Docker's default pools (172.17-31/16, 192.168/16) and from
// Podman's (10.88/16, 10.89/16).
var subnetPool = netip.MustParsePrefix("10.100.0.0/16")

// pickSubnet returns the first /24 of the pool that overlaps nothing taken
// (other networks' subnets and the host's routes).
func pickSubnet(taken []netip.Prefix) (netip.Prefix, error) {
	base := subnetPool.Addr().As4()
	for i := 0; i < 1<<(24-subnetPool.Bits()); i++ {
		a := base
		a[2] = byte(i)
		cand := netip.PrefixFrom(netip.AddrFrom4(a), 24)
		free := true
		for _, t := range taken {
			// A default route (0.0.0.0/0) overlaps everything but takes
			// nothing: only routes to specific subnets do.
			if t.Bits() > 0 && t.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return cand, nil
		}
	}
	return netip.Prefix{}, backends.NewError(backends.ErrInUse, "subnets", fmt.Sprintf("every /24 of %s is taken: remove unused networks, or give a subnet", subnetPool))
}

// hostRoutes lists the host's IPv4 routes, which include the subnets of its
// interfaces and of other runtimes' bridges.
func hostRoutes() ([]netip.Prefix, error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, err
	}
	return parseRoutes(data)
}

// parseRoutes reads /proc/net/route: destination and mask are hex in the
// host's byte order (little-endian on every Linux k3d runs on).
func parseRoutes(data []byte) ([]netip.Prefix, error) {
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // the header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("route %q: %w", sc.Text(), err)
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], uint32(dst))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), bits.OnesCount32(uint32(mask))))
	}
	return out, sc.Err()
}
