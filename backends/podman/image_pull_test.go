package podman

import (
	"errors"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
)

// What Podman 4.8+ streams for a pull in compatMode (handlers/utils.CompatPull).
func TestDecodeCompatPull(t *testing.T) {
	const stream = `{"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Pulling fs layer","progressDetail":{},"id":"bbbbbbbbbbbb"}
{"status":"Downloading","progressDetail":{"current":512,"total":1024},"progress":"[=>   ]","id":"aaaaaaaaaaaa"}
{"status":"Downloading","progressDetail":{"current":100,"total":100},"progress":"[=>   ]","id":"bbbbbbbbbbbb"}
{"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"status":"Download complete","progressDetail":{},"id":"bbbbbbbbbbbb"}
{"status":"Download complete","progressDetail":{},"id":"0123456789ab"}
`
	var got []backends.PullProgress
	if err := decodeCompatPull(strings.NewReader(stream), func(p backends.PullProgress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 {
		t.Fatalf("%d events, want 7: %+v", len(got), got)
	}
	if p := got[3]; p.Done != 612 || p.Total != 1124 {
		t.Errorf("after both layers reported: %+v, want 612 of 1124", p)
	}
	if p := got[6]; p.Done != 1124 || p.Total != 1124 {
		t.Errorf("at the end: %+v, want 1124 of 1124", p)
	}
}

func TestDecodeCompatPullErrors(t *testing.T) {
	for _, tc := range []struct{ stream, want string }{
		// Failed on the way: a JSON message with the error.
		{`{"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"}
{"progressDetail":{},"errorDetail":{"message":"reading blob: connection reset"},"error":"reading blob: connection reset"}
`, "reading blob: connection reset"},
		// Failed before any progress: only the error's message.
		{`{"message":"initializing source docker://127.0.0.1:1/x:y: pinging container registry 127.0.0.1:1: connect: connection refused"}
`, "connection refused"},
	} {
		err := decodeCompatPull(strings.NewReader(tc.stream), nil)
		var pe *errPulled
		if !errors.As(err, &pe) || !strings.Contains(pe.msg, tc.want) {
			t.Errorf("got %v, want the service's error %q", err, tc.want)
		}
	}
}

func TestStepOf(t *testing.T) {
	for line, want := range map[string]string{
		"Trying to pull 127.0.0.1:5000/app:1...\n": "Trying to pull",
		"Getting image source signatures":          "Getting image source signatures",
		"Copying blob sha256:7b5bdca74709 done":    "Copying blob",
		"Copying config sha256:48695ea60be7":       "Copying config",
		"Writing manifest to image destination":    "Writing manifest to image destination",
		"   ":                                      "",
	} {
		if got := stepOf(line); got != want {
			t.Errorf("stepOf(%q) = %q, want %q", line, got, want)
		}
	}
}
