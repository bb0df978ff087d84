package flagspec

import (
	"strings"
	"testing"

	"github.com/k3d/k3d/engine/nodefilter"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParseEnv(t *testing.T) {
	host := lookup(map[string]string{"HTTP_PROXY": "http://proxy:3128"})
	tests := []struct {
		in, key, value, filters string
	}{
		{"KEY=VAL@agent:*", "KEY", "VAL", "agent:*"},
		{"HTTP_PROXY=my.proxy.com@server:0", "HTTP_PROXY", "my.proxy.com", "server:0"},
		{"SOME_KEY=SOME_VAL@server:0", "SOME_KEY", "SOME_VAL", "server:0"},
		{"A=b=c", "A", "b=c", ""},
		{"EMPTY=", "EMPTY", "", ""},
		{`EMAIL=me\@example.com@all`, "EMAIL", "me@example.com", "all"},
		{"HTTP_PROXY@server:*", "HTTP_PROXY", "http://proxy:3128", "server:*"},
		{"K=with spaces", "K", "with spaces", ""},
	}
	for _, tt := range tests {
		e, err := ParseEnv(tt.in, host)
		if err != nil {
			t.Errorf("ParseEnv(%q): %v", tt.in, err)
			continue
		}
		if e.Key != tt.key || e.Value != tt.value || nodefilter.Format(e.Filters) != tt.filters {
			t.Errorf("ParseEnv(%q) = %q=%q @%q; want %q=%q @%q", tt.in, e.Key, e.Value, nodefilter.Format(e.Filters), tt.key, tt.value, tt.filters)
		}
	}
}

func TestParseLabelAndK3sArg(t *testing.T) {
	l, err := ParseLabel("key=value@server:0")
	if err != nil || l.Key != "key" || l.Value != "value" || nodefilter.Format(l.Filters) != "server:0" {
		t.Errorf("ParseLabel(key=value@server:0) = %+v, %v", l, err)
	}
	l, err = ParseLabel("flag")
	if err != nil || l.Key != "flag" || l.Value != "" || l.Filters != nil {
		t.Errorf("ParseLabel(flag) = %+v, %v; want key flag with empty value", l, err)
	}
	a, err := ParseK3sArg("--disable=traefik@server:*")
	if err != nil || a.Arg != "--disable=traefik" || nodefilter.Format(a.Filters) != "server:*" {
		t.Errorf("ParseK3sArg = %+v, %v", a, err)
	}
	a, err = ParseK3sArg("--node-label=foo=bar@agent:0")
	if err != nil || a.Arg != "--node-label=foo=bar" {
		t.Errorf("ParseK3sArg = %+v, %v", a, err)
	}
	a, err = ParseK3sArg(`--datastore-endpoint=mysql://u:p\@tcp(db:3306)/k3s@server:0`)
	if err != nil || a.Arg != "--datastore-endpoint=mysql://u:p@tcp(db:3306)/k3s" {
		t.Errorf("ParseK3sArg with escaped '@' = %+v, %v", a, err)
	}
}

func TestParseArgErrors(t *testing.T) {
	none := lookup(nil)
	tests := []struct {
		parse func(string) error
		in    string
		want  string
	}{
		{envP(none), "", `env "": empty variable name before '=': write KEY=VALUE`},
		{envP(none), "=value", `env "=value": empty variable name before '=': write KEY=VALUE`},
		{envP(none), "MY KEY=v", `env "MY KEY=v": variable name "MY KEY" contains whitespace: write KEY=VALUE with no spaces in KEY`},
		{envP(none), "UNSET_VAR", `env "UNSET_VAR": UNSET_VAR has no value and is not set in your environment: write UNSET_VAR=VALUE`},
		{envP(nil), "UNSET_VAR@server:0", `env "UNSET_VAR@server:0": UNSET_VAR has no value and is not set in your environment: write UNSET_VAR=VALUE`},
		{envP(none), "K=a\x00b", `env "K=a\x00b": the value contains a NUL byte, which no environment can hold`},
		{envP(none), "EMAIL=me@example.com", `env "EMAIL=me@example.com": node filter "example.com": unknown node group "example.com": write server, agent, loadbalancer or all (e.g. @server:0, @agent:*, @agent:0-2), the seed's workers[0,2-3] or masters, or a node's full name (e.g. @k3d-dev-agent-0); if the '@' belongs to the value, write it as \@`},
		{envP(none), "K=V@agent:*:proxy", `env "K=V@agent:*:proxy": suffix :proxy in node filter "agent:*:proxy" applies only to ports: write @agent:*`},
		{envP(none), "K=V@", `env "K=V@": "K=V@" ends with '@' but names no node`},
		{labelP, "", `label "": empty label key before '=': write KEY=VALUE`},
		{labelP, "=v@server:0", `label "=v@server:0": empty label key before '=': write KEY=VALUE`},
		{labelP, "a b=c", `label "a b=c": label key "a b" contains whitespace: write KEY=VALUE with no spaces in KEY`},
		{labelP, "k=line1\nline2", `label "k=line1\nline2": the value contains a line break or NUL byte: labels hold one line`},
		{labelP, "k=v@server:0:direct", `label "k=v@server:0:direct": suffix :direct in node filter "server:0:direct" applies only to ports: write @server:0`},
		{labelP, "k=v@servr:0", `label "k=v@servr:0": node filter "servr:0": unknown node group "servr"`},
		{k3sP, "", `k3s arg "": no argument given: write e.g. --disable=traefik@server:*`},
		{k3sP, "@server:0", `k3s arg "@server:0": no argument given: write e.g. --disable=traefik@server:*`},
		{k3sP, "  @server:0", `k3s arg "  @server:0": no argument given`},
		{k3sP, " --disable=traefik@server:0", `k3s arg " --disable=traefik@server:0": the argument starts or ends with spaces, which k3s would take literally: write "--disable=traefik"`},
		{k3sP, "--a\nb", `k3s arg "--a\nb": the argument contains a line break or NUL byte`},
		{k3sP, "--disable=traefik@server:0:direct", `k3s arg "--disable=traefik@server:0:direct": suffix :direct in node filter "server:0:direct" applies only to ports: write @server:0`},
		{k3sP, "--disable=traefik@server[0", `k3s arg "--disable=traefik@server[0": node filter "server[0": '[' is not closed: write e.g. workers[0,2-3]`},
	}
	for _, tt := range tests {
		err := tt.parse(tt.in)
		if err == nil {
			t.Errorf("parse(%q) succeeded, want error %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%q) error\n  %v\nwant\n  %s", tt.in, err, tt.want)
		}
	}
}

func envP(lookupEnv func(string) (string, bool)) func(string) error {
	return func(s string) error { _, err := ParseEnv(s, lookupEnv); return err }
}
func labelP(s string) error { _, err := ParseLabel(s); return err }
func k3sP(s string) error   { _, err := ParseK3sArg(s); return err }
