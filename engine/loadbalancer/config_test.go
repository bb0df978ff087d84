package loadbalancer

import (
	"strings"
	"testing"
)

func TestParseRejectsWhatTheProxyCannotServe(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"not json", `listeners: []`, "decode"},
		{"trailing data", `{"listeners":[{"port":6443,"protocol":"tcp","upstreams":[]}]} {}`, "trailing"},
		{"no listeners", `{"listeners":[]}`, "no listeners"},
		{"port zero", `{"listeners":[{"port":0,"protocol":"tcp"}]}`, "port 0"},
		{"port too big", `{"listeners":[{"port":70000,"protocol":"tcp"}]}`, "decode"},
		{"sctp", `{"listeners":[{"port":80,"protocol":"sctp"}]}`, `protocol "sctp"`},
		{"empty protocol", `{"listeners":[{"port":80}]}`, `protocol ""`},
		{"upper case protocol", `{"listeners":[{"port":80,"protocol":"TCP"}]}`, `protocol "TCP"`},
		{"twice", `{"listeners":[{"port":80,"protocol":"tcp"},{"port":80,"protocol":"tcp"}]}`, "80/tcp is listed twice"},
		{"upstream without port", `{"listeners":[{"port":80,"protocol":"tcp","upstreams":["node"]}]}`, `upstream "node"`},
		{"upstream without host", `{"listeners":[{"port":80,"protocol":"tcp","upstreams":[":80"]}]}`, "empty host"},
		{"upstream port zero", `{"listeners":[{"port":80,"protocol":"tcp","upstreams":["n:0"]}]}`, "not a number from 1 to 65535"},
		{"upstream port name", `{"listeners":[{"port":80,"protocol":"tcp","upstreams":["n:http"]}]}`, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%s) = %v, want an error containing %q", tc.json, err, tc.want)
			}
		})
	}
}

func TestParseAcceptsAServerLBConfig(t *testing.T) {
	c, err := Parse([]byte(`{"listeners":[
		{"port":6443,"protocol":"tcp","upstreams":["k3d-dev-server-0:6443","[fd00::2]:6443"]},
		{"port":53,"protocol":"udp","upstreams":["k3d-dev-agent-0:53"],"future":"ignored"},
		{"port":53,"protocol":"tcp","upstreams":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listeners) != 3 || c.Listeners[0].Upstreams[1] != "[fd00::2]:6443" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestMarshalIsStableAndRoundTrips(t *testing.T) {
	a := Config{Listeners: []Listener{
		{Port: 8080, Protocol: "udp", Upstreams: []string{"b:80", "a:80"}},
		{Port: 6443, Protocol: "tcp", Upstreams: []string{"k3d-dev-server-1:6443", "k3d-dev-server-0:6443"}},
		{Port: 8080, Protocol: "tcp"},
	}}
	b := Config{Listeners: []Listener{a.Listeners[2], a.Listeners[1], a.Listeners[0]}}
	ja, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	jb, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(ja) != string(jb) {
		t.Fatalf("same config, different bytes:\n%s\n%s", ja, jb)
	}
	if a.Listeners[0].Upstreams[0] != "b:80" {
		t.Fatal("Marshal reordered the caller's slice")
	}
	back, err := Parse(ja)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"6443/tcp", "8080/tcp", "8080/udp"}
	for i, l := range back.Listeners {
		if l.key().String() != want[i] {
			t.Fatalf("listener %d is %s, want %s:\n%s", i, l.key(), want[i], ja)
		}
	}
	if back.Listeners[0].Upstreams[0] != "k3d-dev-server-0:6443" || back.Listeners[1].Upstreams == nil {
		t.Fatalf("upstreams not sorted or null:\n%s", ja)
	}
	if _, err := (Config{}).Marshal(); err == nil {
		t.Fatal("Marshal accepted a config the proxy would refuse")
	}
}
