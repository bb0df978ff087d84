package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/containers/podman/v4/pkg/bindings"
	"github.com/containers/podman/v4/pkg/bindings/images"
	"github.com/containers/podman/v4/pkg/errorhandling"
	"github.com/distribution/reference"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/pull"
)

// ImageInspect describes a present image; nothing is pulled.
func (r *Runtime) ImageInspect(ctx context.Context, ref string) (backends.Image, error) {
	img, err := r.imageInspect(ctx, ref)
	if err != nil {
		return backends.Image{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, nil
}

func (r *Runtime) imageInspect(ctx context.Context, ref string) (backends.Image, error) {
	actx, err := r.api(ctx)
	if err != nil {
		return backends.Image{}, err
	}
	rep, err := images.GetImage(actx, ref, nil)
	if err != nil {
		return backends.Image{}, r.typed(err, imageObj(ref), conflictIsExists)
	}
	// Podman's image ID is the config digest's hex alone.
	id := rep.ID
	if !strings.Contains(id, ":") {
		id = "sha256:" + id
	}
	return backends.Image{
		ID:   id,
		Refs: append(append([]string{}, rep.RepoTags...), rep.RepoDigests...),
		Size: rep.Size,
	}, nil
}

// ImagePull has the service pull ref. Podman 4.8 and later report a pull
// the way Docker does, bytes per layer; older services only name each step,
// so progress then tells the steps and the image's size once it is in.
func (r *Runtime) ImagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	if err := r.imagePull(ctx, ref, opts); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

// compatPullSince is the first service version whose libpod pull can report
// in Docker's form (the compatMode parameter).
var compatPullSince = semver.MustParse("4.8.0")

func (r *Runtime) imagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	// A reference means what it means to Docker ("rancher/k3s" is on Docker
	// Hub), not whatever Podman's short-name search would find.
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return backends.NewError(backends.ErrInvalid, imageObj(ref), err.Error())
	}
	full := reference.TagNameOnly(named).String()
	// Podman speaks HTTPS only unless told to skip verification; then it
	// falls back to plain HTTP, which is what Docker does for registries on
	// this machine.
	plainHTTP := pull.IsLoopback(reference.Domain(named))
	actx, conn, err := r.connection(ctx)
	if err != nil {
		return err
	}
	if bindings.ServiceVersion(actx).GE(compatPullSince) {
		err = r.compatPull(actx, conn, ref, full, plainHTTP, opts)
	} else {
		err = r.stepsPull(actx, ref, full, plainHTTP, opts)
	}
	// The bindings end a pull whose context ended without an error.
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// stepsPull pulls with the bindings, reporting the steps the service names.
func (r *Runtime) stepsPull(actx context.Context, ref, full string, plainHTTP bool, opts backends.PullOptions) error {
	w := &stepWriter{progress: opts.Progress}
	po := new(images.PullOptions).WithQuiet(false).WithPolicy("always").WithProgressWriter(w)
	if plainHTTP {
		po = po.WithSkipTLSVerify(true)
	}
	if _, err := images.Pull(actx, full, po); err != nil {
		return r.pullError(ref, err)
	}
	if opts.Progress != nil && actx.Err() == nil {
		if img, err := r.imageInspect(actx, full); err == nil {
			opts.Progress(backends.PullProgress{Done: img.Size, Total: img.Size, Status: "Pull complete"})
		}
	}
	return nil
}

// compatPull asks the service for Docker's JSON messages, which count bytes.
// The bindings have no option for it, so the request is made by hand.
func (r *Runtime) compatPull(actx context.Context, conn *bindings.Connection, ref, full string, plainHTTP bool, opts backends.PullOptions) error {
	params := url.Values{}
	params.Set("reference", full)
	params.Set("policy", "always")
	params.Set("compatMode", "true")
	if plainHTTP {
		params.Set("tlsVerify", "false")
	}
	resp, err := conn.DoRequest(actx, nil, http.MethodPost, "/images/pull", params, nil)
	if err != nil {
		return r.pullError(ref, err)
	}
	defer resp.Body.Close()
	// A pull that fails before it began answers with an error status and
	// the same kind of message as one that fails on the way.
	err = decodeCompatPull(resp.Body, opts.Progress)
	switch {
	case err != nil:
		return r.pullError(ref, err)
	case !resp.IsSuccess():
		return r.pullError(ref, &errorhandling.ErrorModel{Message: resp.Status, ResponseCode: resp.StatusCode})
	}
	return nil
}

// errPulled is a failure the service reported in its pull stream.
type errPulled struct{ msg string }

func (e *errPulled) Error() string { return e.msg }

// decodeCompatPull reads Docker's JSON messages, reporting their bytes;
// the error of a message that carries one is returned as an *errPulled.
func decodeCompatPull(body io.Reader, progress func(backends.PullProgress)) error {
	var layers pull.Layers
	dec := json.NewDecoder(body)
	for {
		var m compatMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the service's pull messages: %w", err)
		}
		if msg := m.failure(); msg != "" {
			return &errPulled{msg: msg}
		}
		var current, total int64
		if m.Progress != nil {
			current, total = m.Progress.Current, m.Progress.Total
		}
		p := layers.Update(m.ID, m.Status, current, total)
		if progress != nil {
			progress(p)
		}
	}
}

// compatMessage is one message of a compatible pull stream. A pull that
// failed before any progress ends with a bare {"message": ...} instead.
type compatMessage struct {
	jsonmessage.JSONMessage
	Message string `json:"message"`
}

func (m *compatMessage) failure() string {
	switch {
	case m.Error != nil && m.Error.Message != "":
		return m.Error.Message
	case m.ErrorMessage != "":
		return m.ErrorMessage
	}
	return m.Message
}

// pullError types a failed pull: the service itself unreachable, the
// registry unreachable or without the image.
func (r *Runtime) pullError(ref string, err error) error {
	if terr := r.typed(err, imageObj(ref), conflictIsExists); terr != err {
		// A 404 is the service's word for "the registry has no such image";
		// the registry's own words may say it was not reachable at all.
		if backends.IsNotFound(terr) {
			if typed := pull.Classify(ref, err.Error()); typed != nil {
				return typed
			}
		}
		return terr
	}
	if typed := pull.Classify(ref, err.Error()); typed != nil {
		return typed
	}
	return err
}

// stepWriter turns the steps of the service's pull report ("Copying blob
// sha256:...") into progress without bytes.
type stepWriter struct {
	progress func(backends.PullProgress)
	partial  []byte
}

func (w *stepWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if step := stepOf(line); step != "" && w.progress != nil {
			w.progress(backends.PullProgress{Status: step})
		}
	}
}

// stepOf is a report line without the digests and ellipses that name what
// the step works on: "Copying blob sha256:0a1b... done" is "Copying blob".
func stepOf(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, " sha256:"); i >= 0 {
		line = line[:i]
	}
	if strings.HasPrefix(line, "Trying to pull ") {
		return "Trying to pull"
	}
	return strings.TrimSuffix(line, "...")
}
