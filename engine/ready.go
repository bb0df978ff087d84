package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/k3d/k3d/backends"
)

// What k3s prints once a node is ready; k3d v5 waits for the same lines.
const (
	readyLineServer = "k3s is up and running"
	readyLineAgent  = "successfully registered node"
)

// maxRestartsWhileWaiting bounds how often a node may crash and come back
// (its restart policy) before it counts as failed: a joining server may exit
// once or twice while etcd settles, a node that keeps crashing will not recover.
const maxRestartsWhileWaiting = 5

// tailLines is how much of a failed node's output an error shows.
const tailLines = 10

func readyLine(r Role) string {
	switch r {
	case RoleServer:
		return readyLineServer
	case RoleAgent:
		return readyLineAgent
	}
	return ""
}

// waitNodeReady follows a node's output from since until its role's ready
// line appears. It fails at once when the node exits for good, and gives up
// when ctx ends; either way the error carries the node's last lines.
func (e *Engine) waitNodeReady(ctx context.Context, name string, role Role, since time.Time) error {
	want := readyLine(role)
	if want == "" {
		return nil
	}
	tail := newRing(tailLines)
	restarts := -1
	for {
		found, err := e.scanLogs(ctx, name, since, want, tail)
		if found {
			return nil
		}
		if ctx.Err() != nil {
			return &NodeError{Node: name, Err: fmt.Errorf("not ready: %w", ctx.Err()), LastLogs: e.lastLines(name, tail)}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return &NodeError{Node: name, Err: fmt.Errorf("follow logs: %w", err), LastLogs: tail.lines()}
		}
		// The stream ended: the node stopped. It either comes back under
		// its restart policy or it is done.
		n, ierr := e.rt.InspectNode(ctx, name)
		if ierr != nil {
			if backends.IsNotFound(ierr) {
				return &NodeError{Node: name, Err: errors.New("was removed before it was ready"), LastLogs: tail.lines()}
			}
			if ctx.Err() != nil {
				continue
			}
			return &NodeError{Node: name, Err: fmt.Errorf("inspect: %w", ierr), LastLogs: tail.lines()}
		}
		if restarts < 0 {
			restarts = n.State.RestartCount
		}
		if n.State.RestartCount-restarts > maxRestartsWhileWaiting {
			return &NodeError{Node: name, Err: fmt.Errorf("restarted %d times without getting ready", n.State.RestartCount-restarts), LastLogs: tail.lines()}
		}
		switch {
		case n.State.Running:
			// Restarted already (or the stream broke): follow again from
			// where this run began.
			since = runStart(n.State)
		case n.State.Status == backends.StatusRestarting:
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				continue
			}
		default:
			return &NodeError{Node: name, Err: fmt.Errorf("exited with code %d before it was ready", n.State.ExitCode), LastLogs: tail.lines()}
		}
	}
}

// scanLogs follows a node's output and reports whether want appeared.
func (e *Engine) scanLogs(ctx context.Context, name string, since time.Time, want string, tail *ring) (bool, error) {
	rc, err := e.rt.Logs(ctx, name, backends.LogOptions{Since: since, Follow: true})
	if err != nil {
		return false, err
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		tail.add(line)
		if strings.Contains(strings.ToLower(line), want) {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, io.EOF
}

// lastLines returns what a node printed last: the followed lines, or when
// none were seen, its log tail read afresh (ctx may be over by now).
func (e *Engine) lastLines(name string, tail *ring) []string {
	if l := tail.lines(); len(l) > 0 {
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := e.rt.Logs(ctx, name, backends.LogOptions{Tail: tailLines})
	if err != nil {
		return nil
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		tail.add(sc.Text())
	}
	return tail.lines()
}

// waitAPIReady polls GET /readyz on the published API with the admin
// credentials of kubeconfig until it answers 200. Real k3s refuses anonymous
// requests, so the kubeconfig's client certificate is needed, not just TLS.
func (e *Engine) waitAPIReady(ctx context.Context, kubeconfig []byte) error {
	client, err := e.httpClient(kubeconfig)
	if err != nil {
		return err
	}
	server, err := kubeconfigServer(kubeconfig)
	if err != nil {
		return err
	}
	url := strings.TrimSuffix(server, "/") + "/readyz"
	delay := 50 * time.Millisecond
	var last error
	start, told := time.Now(), false
	for {
		if waited := time.Since(start); !told && last != nil && waited >= e.slowAPI {
			// Without a --timeout the wait has no end; say what it is waiting on.
			told = true
			e.note(fmt.Sprintf("the Kubernetes API at %s has not answered for %s (last answer: %v); still waiting: stop with Ctrl-C, or bound the wait with --timeout",
				server, waited.Round(time.Second), last))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return fmt.Errorf("API at %s not ready: %w (last answer: %v)", url, err, last)
		}
		delay = min(delay*2, time.Second)
	}
}

// apiHTTPClient is an HTTP client with kubeconfig's CA and credentials.
func apiHTTPClient(kubeconfig []byte) (*http.Client, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg.Timeout = 5 * time.Second
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return c, nil
}

func kubeconfigServer(kubeconfig []byte) (string, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("read kubeconfig: %w", err)
	}
	return cfg.Host, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ring keeps the last n lines.
type ring struct {
	buf  []string
	n    int
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]string, n), n: n} }

func (r *ring) add(s string) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % r.n
	if r.next == 0 {
		r.full = true
	}
}

func (r *ring) lines() []string {
	if !r.full {
		return append([]string(nil), r.buf[:r.next]...)
	}
	return append(append([]string(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}
