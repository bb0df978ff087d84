package backends_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/testbackend"
)

// errorCase is one contract error kind and what k3d must get back for it.
type errorCase struct {
	name  string // the fake's "fail-KIND" name
	check func(t *testing.T, err error, object string)
}

func typedCheck(kind error, detail string) func(*testing.T, error, string) {
	return func(t *testing.T, err error, object string) {
		var te *backends.Error
		if !errors.As(err, &te) {
			t.Fatalf("error %q (%T) does not hold a *backends.Error", err, err)
		}
		if te.Kind != kind || te.Object != object || te.Detail != detail {
			t.Errorf("got Error{Kind: %v, Object: %q, Detail: %q}, want {%v, %q, %q}", te.Kind, te.Object, te.Detail, kind, object, detail)
		}
		if !errors.Is(err, kind) {
			t.Errorf("errors.Is(%q, %v) = false", err, kind)
		}
	}
}

var errorCases = []errorCase{
	{"fail-notfound", typedCheck(backends.ErrNotFound, "no such object")},
	{"fail-exists", typedCheck(backends.ErrAlreadyExists, "name taken")},
	{"fail-inuse", typedCheck(backends.ErrInUse, "has active endpoints")},
	{"fail-notrunning", typedCheck(backends.ErrNotRunning, "container is stopped")},
	{"fail-invalid", typedCheck(backends.ErrInvalid, "bad spec")},
	{"fail-unreachable", func(t *testing.T, err error, _ string) {
		var ue *backends.UnreachableError
		if !errors.As(err, &ue) {
			t.Fatalf("error %q (%T) does not hold a *backends.UnreachableError", err, err)
		}
		want := backends.UnreachableError{Runtime: "fake", Endpoint: "unix:///run/fake.sock", Hint: "start it with: fake-daemon", Detail: "dial unix /run/fake.sock: connect: no such file or directory"}
		if *ue != want {
			t.Errorf("got %+v, want %+v", *ue, want)
		}
		if !backends.IsUnreachable(err) {
			t.Error("IsUnreachable = false")
		}
	}},
	{"fail-prerequisite", func(t *testing.T, err error, _ string) {
		var pe *backends.PrerequisiteError
		if !errors.As(err, &pe) {
			t.Fatalf("error %q (%T) does not hold a *backends.PrerequisiteError", err, err)
		}
		want := backends.PrerequisiteError{Runtime: "fake", Missing: "CNI plugins not found in /nonexistent", Fix: "install containernetworking-plugins"}
		if *pe != want {
			t.Errorf("got %+v, want %+v", *pe, want)
		}
		if !backends.IsPrerequisite(err) || backends.IsUnreachable(err) {
			t.Errorf("IsPrerequisite = %v, IsUnreachable = %v", backends.IsPrerequisite(err), backends.IsUnreachable(err))
		}
		if !strings.Contains(err.Error(), "fake: CNI plugins not found in /nonexistent (install containernetworking-plugins)") {
			t.Errorf("text %q", err)
		}
	}},
	{"fail-bare-notfound", func(t *testing.T, err error, _ string) {
		var te *backends.Error
		if !backends.IsNotFound(err) || errors.As(err, &te) {
			t.Errorf("want a bare ErrNotFound, got %q (IsNotFound %v, *Error %v)", err, backends.IsNotFound(err), te)
		}
	}},
	{"fail-canceled", func(t *testing.T, err error, _ string) {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(%q, context.Canceled) = false", err)
		}
	}},
	{"fail-deadline", func(t *testing.T, err error, _ string) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%q, context.DeadlineExceeded) = false", err)
		}
	}},
	{"fail-plain", func(t *testing.T, err error, _ string) {
		for _, kind := range []error{backends.ErrNotFound, backends.ErrAlreadyExists, backends.ErrInUse, backends.ErrNotRunning, backends.ErrInvalid, backends.ErrUnreachable, backends.ErrPrerequisite, context.Canceled, context.DeadlineExceeded} {
			if errors.Is(err, kind) {
				t.Errorf("plain error %q is %v", err, kind)
			}
		}
	}},
}

// The same error through each kind of call: unary, server stream, client
// stream, bidirectional stream.
var errorCalls = []struct {
	name   string
	call   func(rt backends.Runtime, name string) error
	what   string // the fake's wording of what was done
	object string // the fake's wording of the object, %s for the name
}{
	{"InspectNode", func(rt backends.Runtime, name string) error {
		_, err := rt.InspectNode(context.Background(), name)
		return err
	}, "inspect node %s", "node %q"},
	{"DeleteNetwork", func(rt backends.Runtime, name string) error {
		return rt.DeleteNetwork(context.Background(), name)
	}, "delete network %s", "network %q"},
	{"Logs", func(rt backends.Runtime, name string) error {
		rc, err := rt.Logs(context.Background(), name, backends.LogOptions{Follow: true})
		if err == nil {
			rc.Close()
		}
		return err
	}, "read logs of node %s", "node %q"},
	{"CopyToNode", func(rt backends.Runtime, name string) error {
		return rt.CopyToNode(context.Background(), name, "/", strings.NewReader("tar"))
	}, "copy to node %s", "node %q"},
	{"ImageInspect", func(rt backends.Runtime, name string) error {
		_, err := rt.ImageInspect(context.Background(), name)
		return err
	}, "inspect image %s", "image %q"},
	// The fake reports progress before it fails: the error comes as the
	// stream's final status.
	{"ImagePull", func(rt backends.Runtime, name string) error {
		return rt.ImagePull(context.Background(), name, backends.PullOptions{})
	}, "pull image %s", "image %q"},
	{"Exec", func(rt backends.Runtime, name string) error {
		_, err := rt.Exec(context.Background(), name, backends.ExecSpec{Cmd: []string{"cat"}, Stdin: strings.NewReader("x")})
		return err
	}, "exec in node %s", "node %q"},
}

func TestErrorKindsCrossTheBoundaryInProcess(t *testing.T) {
	c := backends.ConnectInProcess(t, testbackend.New())
	for _, call := range errorCalls {
		for _, tc := range errorCases {
			t.Run(call.name+"/"+tc.name, func(t *testing.T) {
				checkRemoteError(t, c, call.call, call.what, call.object, tc)
			})
		}
	}
}

func TestErrorKindsCrossTheBoundaryFromABackendProgram(t *testing.T) {
	c := openTestBackend(t, nil)
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			checkRemoteError(t, c, errorCalls[0].call, errorCalls[0].what, errorCalls[0].object, tc)
		})
	}
}

func checkRemoteError(t *testing.T, rt backends.Runtime, call func(backends.Runtime, string) error, what, object string, tc errorCase) {
	t.Helper()
	err := call(rt, tc.name)
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	// The text is the backend's, unchanged.
	want := testbackend.Failure(tc.name, sprintf(what, tc.name), sprintf(object, tc.name))
	if err.Error() != want.Error() {
		t.Errorf("error text\n got %q\nwant %q", err, want)
	}
	tc.check(t, err, sprintf(object, tc.name))
}

func TestBadRequestsOfTheFakeAreInvalid(t *testing.T) {
	c := backends.ConnectInProcess(t, testbackend.New())
	_, err := c.Exec(context.Background(), "n", backends.ExecSpec{Cmd: []string{"no-such-command"}})
	if !backends.IsInvalid(err) {
		t.Errorf("exec of a missing command: got %v, want ErrInvalid", err)
	}
	_, err = c.ReadFile(context.Background(), "n", "/missing")
	if !backends.IsNotFound(err) || !strings.Contains(err.Error(), `file "/missing" in node "n"`) {
		t.Errorf("read of a missing file: got %v, want ErrNotFound naming the file", err)
	}
	_, err = c.ImageSave(context.Background(), []string{"nope"})
	if !backends.IsNotFound(err) {
		t.Errorf("save of a missing image: got %v, want ErrNotFound", err)
	}
}
