package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	client "github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/internal/pull"
)

// ImageInspect describes a present image: its ID is the config digest of
// its manifest for this host's platform, the one nodes run.
func (r *Runtime) ImageInspect(ctx context.Context, ref string) (backends.Image, error) {
	img, err := r.imageInspect(ctx, ref)
	if err != nil {
		return backends.Image{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img, nil
}

func (r *Runtime) imageInspect(ctx context.Context, ref string) (backends.Image, error) {
	img, err := r.getImage(ctx, ref)
	if err != nil {
		return backends.Image{}, err
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return backends.Image{}, err
	}
	cfg, err := img.Config(ctx)
	if err != nil {
		return backends.Image{}, r.typed(err, imageObj(ref))
	}
	size, err := img.Size(ctx)
	if err != nil {
		return backends.Image{}, r.typed(err, imageObj(ref))
	}
	// Like Docker's RepoTags: every name of the same content.
	same, err := cli.ImageService().List(ctx, "target.digest=="+img.Target().Digest.String())
	if err != nil {
		return backends.Image{}, r.typed(err, imageObj(ref))
	}
	refs := make([]string, 0, len(same))
	for _, m := range same {
		refs = append(refs, m.Name)
	}
	return backends.Image{ID: cfg.Digest.String(), Refs: refs, Size: size}, nil
}

// progressInterval is how often a pull's progress is read from the content
// store, as ctr does: the store, not the fetcher, knows the bytes in flight.
const progressInterval = 100 * time.Millisecond

// ImagePull fetches ref into the namespace and unpacks it for nodes.
// containerd leaves the registry protocol to its client, so the pull runs in
// this process: registries on this machine are spoken to over plain HTTP,
// all others over HTTPS, anonymously.
func (r *Runtime) ImagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	if err := r.imagePull(ctx, ref, opts); err != nil {
		return fmt.Errorf("pull image %s: %w", ref, err)
	}
	return nil
}

func (r *Runtime) imagePull(ctx context.Context, ref string, opts backends.PullOptions) error {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return invalid(imageObj(ref), "%v", err)
	}
	cli, nctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithPlainHTTP(docker.MatchLocalhost),
			docker.WithAuthorizer(docker.NewDockerAuthorizer()),
		),
	})
	jobs := &pullJobs{seen: map[digest.Digest]bool{}}
	pullOpts := []client.RemoteOpt{
		client.WithResolver(resolver),
		client.WithPullUnpack,
		client.WithImageHandlerWrapper(jobs.track),
	}
	var stopProgress func()
	if opts.Progress != nil {
		stopProgress = jobs.report(nctx, cli.ContentStore(), opts.Progress)
	}
	_, err = cli.Pull(nctx, named.String(), pullOpts...)
	if stopProgress != nil {
		stopProgress()
	}
	if err != nil {
		return r.pullError(ctx, ref, err)
	}
	if opts.Progress != nil {
		p := jobs.progress(nctx, cli.ContentStore(), nil)
		p.Status = "Pull complete"
		opts.Progress(p)
	}
	return nil
}

// pullError types a failed pull: the caller gone, the registry unreachable
// or without the image, containerd itself unreachable.
func (r *Runtime) pullError(ctx context.Context, ref string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var be *backends.Error
	var ue *backends.UnreachableError
	if errors.As(err, &be) || errors.As(err, &ue) {
		return err
	}
	// The fetch runs in this process: a registry that does not answer is a
	// network error of ours, while containerd's own failures arrive as gRPC
	// statuses.
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var netErr net.Error
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return pull.Unreachable(ref, err.Error())
	}
	if errdefs.IsNotFound(err) {
		return pull.NotFound(ref, err.Error())
	}
	if typed := pull.Classify(ref, err.Error()); typed != nil {
		return typed
	}
	return r.typed(err, imageObj(ref))
}

// pullJobs are the blobs a pull fetches, as its handlers come upon them.
type pullJobs struct {
	mu     sync.Mutex
	descs  []ocispec.Descriptor
	seen   map[digest.Digest]bool
	layers bool // the manifest was read: every blob to fetch is known
}

func (j *pullJobs) add(descs ...ocispec.Descriptor) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, d := range descs {
		if j.seen[d.Digest] {
			continue
		}
		j.seen[d.Digest] = true
		j.descs = append(j.descs, d)
		j.layers = j.layers || images.IsLayerType(d.MediaType)
	}
}

// track wraps the pull's handlers: each blob is a job before its fetch
// starts, and a manifest's layers are jobs as soon as it is read, so that
// the total is known before the first layer arrives.
func (j *pullJobs) track(h images.Handler) images.Handler {
	return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		j.add(desc)
		children, err := h.Handle(ctx, desc)
		if err == nil {
			j.add(children...)
		}
		return children, err
	})
}

// report polls the content store and reports progress when it changed,
// until the returned function is called; that returns once the last report
// is done, so nothing is reported after the pull returns.
func (j *pullJobs) report(ctx context.Context, cs content.Store, progress func(backends.PullProgress)) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		var last backends.PullProgress
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			statuses, err := cs.ListStatuses(ctx, "")
			if err != nil {
				continue // a moment's failure to read progress is no failure of the pull
			}
			if p := j.progress(ctx, cs, statuses); p != last {
				last = p
				progress(p)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// progress adds up the jobs: a blob being written counts its bytes so far,
// a blob in the store (fetched now or before) its size. active are the
// store's ingest statuses (nil once nothing is in flight).
func (j *pullJobs) progress(ctx context.Context, cs content.Store, active []content.Status) backends.PullProgress {
	j.mu.Lock()
	descs := append([]ocispec.Descriptor(nil), j.descs...)
	known := j.layers
	j.mu.Unlock()
	writing := make(map[string]content.Status, len(active))
	for _, s := range active {
		writing[s.Ref] = s
	}
	p := backends.PullProgress{Status: "Resolving"}
	fetching := false
	for _, d := range descs {
		p.Total += d.Size
		if s, ok := writing[remotes.MakeRefKey(ctx, d)]; ok {
			p.Done += s.Offset
			fetching = true
			continue
		}
		if _, err := cs.Info(ctx, d.Digest); err == nil {
			p.Done += d.Size
		} else {
			fetching = true
		}
	}
	switch {
	case !known:
		p.Total = 0
	case fetching:
		p.Status = "Downloading"
	default:
		p.Status = "Unpacking"
	}
	return p
}
