package registriesyaml

import (
	"strings"
	"testing"
)

// A user's file is read with k3s's field names, and what k3d writes reads
// back the same.
func TestParseMarshalRoundTrip(t *testing.T) {
	in := `mirrors:
  docker.io:
    endpoint:
      - http://k3d-cache:5000
    rewrite:
      "^library/(.*)": "mirror/$1"
configs:
  k3d-cache:5000:
    auth:
      username: dev
      password: s3cret
      identity_token: tok
    tls:
      ca_file: /etc/ssl/ca.pem
      insecure_skip_verify: true
`
	c, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Mirrors["docker.io"].Endpoints; len(got) != 1 || got[0] != "http://k3d-cache:5000" {
		t.Errorf("docker.io endpoints: %v", got)
	}
	cfg := c.Configs["k3d-cache:5000"]
	if cfg.Auth == nil || cfg.Auth.Username != "dev" || cfg.Auth.IdentityToken != "tok" || cfg.TLS == nil || !cfg.TLS.InsecureSkipVerify {
		t.Errorf("configs k3d-cache:5000: %+v %+v", cfg.Auth, cfg.TLS)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("what Marshal wrote does not parse: %v\n%s", err, out)
	}
	if back.Configs["k3d-cache:5000"].Auth.IdentityToken != "tok" || back.Mirrors["docker.io"].Rewrites["^library/(.*)"] != "mirror/$1" {
		t.Errorf("round trip lost fields:\n%s", out)
	}
	if !strings.Contains(string(out), "\n    endpoint:\n") || !strings.Contains(string(out), "identity_token: tok") {
		t.Errorf("not written with k3s's names and two-space indent:\n%s", out)
	}
}

// Mistakes k3s would silently ignore are one-line errors naming the field.
func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"misspelt endpoint", "mirrors:\n  docker.io:\n    endpoints: [http://x:5000]\n", "endpoints"},
		{"unknown top-level key", "mirror:\n  docker.io: {}\n", "mirror"},
		{"endpoint without a scheme", "mirrors:\n  docker.io:\n    endpoint: [k3d-reg:5000]\n", "k3d-reg:5000"},
		{"not YAML", "mirrors: [\n", "registries.yaml"},
		{"empty registry name", "mirrors:\n  \"\":\n    endpoint: [http://x]\n", "empty registry name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", c.in)
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line mentioning %q", msg, c.want)
			}
		})
	}
	if c, err := Parse(nil); err != nil || !c.Empty() {
		t.Errorf("an empty file: %+v, %v; want an empty config", c, err)
	}
}

// The user's entry for a registry replaces k3d's; others are kept.
func TestMergeUserOverGenerated(t *testing.T) {
	gen := Config{Mirrors: map[string]Mirror{
		"k3d-reg:5000": {Endpoints: []string{"http://k3d-reg:5000"}},
		"k3d-reg:5111": {Endpoints: []string{"http://k3d-reg:5000"}},
	}}
	user := Config{
		Mirrors: map[string]Mirror{"k3d-reg:5111": {Endpoints: []string{"https://elsewhere"}}, "docker.io": {Endpoints: []string{"http://cache:5000"}}},
		Configs: map[string]RegistryConfig{"cache:5000": {TLS: &TLS{InsecureSkipVerify: true}}},
	}
	m := Merge(gen, user)
	if got := m.Hosts(); strings.Join(got, ",") != "docker.io,k3d-reg:5000,k3d-reg:5111" {
		t.Errorf("merged hosts: %v", got)
	}
	if m.Mirrors["k3d-reg:5111"].Endpoints[0] != "https://elsewhere" || m.Mirrors["k3d-reg:5000"].Endpoints[0] != "http://k3d-reg:5000" {
		t.Errorf("merged mirrors: %+v", m.Mirrors)
	}
	if _, ok := m.Configs["cache:5000"]; !ok {
		t.Errorf("merged configs lost the user's: %+v", m.Configs)
	}
	if len(gen.Mirrors) != 2 || gen.Mirrors["k3d-reg:5111"].Endpoints[0] != "http://k3d-reg:5000" {
		t.Errorf("Merge changed its input: %+v", gen.Mirrors)
	}
}
