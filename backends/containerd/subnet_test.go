package containerd

import (
	"net/netip"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	data := []byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
	got, err := parseRoutes(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0.0.0.0/0", "172.17.0.0/16", "192.0.2.0/24"}
	if len(got) != len(want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("route %d: %s, want %s", i, got[i], want[i])
		}
	}
}

// A new network's subnet overlaps no other network and no route of the
// host; the default route takes nothing.
func TestPickSubnet(t *testing.T) {
	taken := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.100.0.0/24"),
		netip.MustParsePrefix("10.100.1.128/25"),
	}
	got, err := pickSubnet(taken)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "10.100.2.0/24" {
		t.Errorf("picked %s, want 10.100.2.0/24", got)
	}
	if _, err := pickSubnet([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); err == nil {
		t.Errorf("picked a subnet from a pool a route covers whole")
	}
}

func TestParseSubnet(t *testing.T) {
	if p, err := parseSubnet("10.213.7.9/24"); err != nil || p.String() != "10.213.7.0/24" {
		t.Errorf("parse 10.213.7.9/24: %s, %v; want 10.213.7.0/24", p, err)
	}
	for _, bad := range []string{"10.0.0.0/31", "fd00::/64", "nonsense"} {
		if _, err := parseSubnet(bad); err == nil {
			t.Errorf("subnet %q accepted", bad)
		}
	}
}
