package podman

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/errorhandling"

	"github.com/k3d/k3d/backends"
)

func TestTyped(t *testing.T) {
	r := &Runtime{endpoint: endpoint{uri: "unix:///run/podman/podman.sock", source: "rootful socket"}}
	answer := func(code int, cause, msg string) error {
		return fmt.Errorf("call: %w", &errorhandling.ErrorModel{ResponseCode: code, Because: cause, Message: msg})
	}
	for _, tc := range []struct {
		name     string
		err      error
		conflict conflictMeans
		want     error
	}{
		{"404", answer(404, "no such container", "no container with name or ID \"x\" found: no such container"), conflictIsExists, backends.ErrNotFound},
		{"409 on create is a clash", answer(409, "network already exists", "network name x already used"), conflictIsExists, backends.ErrAlreadyExists},
		{"409 on delete is in use", answer(409, "volume is being used", "volume x is being used"), conflictIsInUse, backends.ErrInUse},
		{"409 on exec is not running", answer(409, "container state improper", "can only create exec sessions on running containers"), conflictIsNotRun, backends.ErrNotRunning},
		{"400", answer(400, "bad parameter", "bad"), conflictIsExists, backends.ErrInvalid},
		{"500 name clash, by cause", answer(500, "that name is already in use", "creating container storage: the container name \"x\" is already in use by 0123. You have to remove that container to be able to reuse that name: that name is already in use"), conflictIsExists, backends.ErrAlreadyExists},
		{"500 missing image, by cause", answer(500, "image not known", "x: image not known"), conflictIsExists, backends.ErrNotFound},
		{"connect error", bindings.ConnectError{Err: errors.New("dial unix /run/podman/podman.sock: connect: connection refused")}, conflictIsExists, backends.ErrUnreachable},
		{"transport error", &url.Error{Op: "Get", URL: "http://d/v4.9.4/libpod/info", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, conflictIsExists, backends.ErrUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.typed(tc.err, `node "x"`, tc.conflict)
			if !errors.Is(got, tc.want) {
				t.Fatalf("typed(%v): %v, want %v", tc.err, got, tc.want)
			}
			if errors.Is(tc.want, backends.ErrUnreachable) {
				if !strings.Contains(got.Error(), "unix:///run/podman/podman.sock") || !strings.Contains(got.Error(), "podman system service") {
					t.Errorf("unreachable error %q does not say where and how to start the service", got)
				}
			} else if !strings.Contains(got.Error(), `node "x"`) {
				t.Errorf("typed error %q does not name the object", got)
			}
		})
	}

	if got := r.typed(context.Canceled, "x", conflictIsExists); !errors.Is(got, context.Canceled) || backends.IsUnreachable(got) {
		t.Errorf("typed(context.Canceled): %v, want it unchanged", got)
	}
	other := answer(500, "something else", "disk full")
	if got := r.typed(other, "x", conflictIsExists); got != other {
		t.Errorf("typed(an error the contract has no kind for): %v, want it unchanged", got)
	}
}
