// Package pull holds what every backend's ImagePull shares: where an image's
// registry is, which registries are spoken to over plain HTTP, how a
// runtime's pull failure maps onto the contract's errors, and how progress
// reported per layer adds up to one figure.
package pull

import (
	"fmt"
	"net"
	"strings"

	"github.com/k3d/k3d/backends"
)

// RegistryHost is the registry part of ref ("127.0.0.1:5000" of
// "127.0.0.1:5000/app:1"), Docker Hub's when ref names none. The rule is
// Docker's: a first path component is a registry when it has a dot or a port,
// or is localhost.
func RegistryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// IsLoopback reports whether a registry host (with or without a port) is this
// machine: localhost, 127.0.0.0/8 or ::1. Docker speaks plain HTTP to these
// by default, and so does every k3d backend.
func IsLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Unreachable is the contract's error for a registry that did not answer.
func Unreachable(ref, detail string) *backends.UnreachableError {
	return &backends.UnreachableError{
		Runtime:  "the registry of image " + ref,
		Endpoint: RegistryHost(ref),
		Detail:   detail,
		Hint:     "check the image's registry address and that the registry is running",
	}
}

// NotFound is the contract's error for a reference the registry does not know.
func NotFound(ref, detail string) *backends.Error {
	return backends.NewError(backends.ErrNotFound, fmt.Sprintf("image %q", ref), detail)
}

// The words runtimes use when a pull fails. They come from the registry
// protocol (error codes MANIFEST_UNKNOWN, NAME_UNKNOWN) and from Go's net
// package; a runtime passes them on only as text in its pull stream.
var (
	unreachableWords = []string{
		"connection refused", "no such host", "i/o timeout", "timeout",
		"network is unreachable", "no route to host", "server misbehaving",
		"connection reset by peer",
	}
	notFoundWords = []string{
		"manifest unknown", "name unknown", "not found", "pull access denied",
		"repository does not exist", "does not exist or no pull access",
	}
)

// Classify maps the text of a failed pull of ref onto the contract's errors:
// an *UnreachableError when the registry did not answer, ErrNotFound when it
// does not know the image, nil when the text says neither. Callers first rule
// out their own runtime being unreachable and their context ending.
func Classify(ref, msg string) error {
	lower := strings.ToLower(msg)
	for _, w := range unreachableWords {
		if strings.Contains(lower, w) {
			return Unreachable(ref, msg)
		}
	}
	for _, w := range notFoundWords {
		if strings.Contains(lower, w) {
			return NotFound(ref, msg)
		}
	}
	return nil
}

// Layers adds up progress that a runtime reports per layer (Docker's JSON
// messages and Podman's compatible stream): bytes downloaded so far over all
// layers, and their total once every layer being fetched has told its size.
type Layers struct {
	order  []string
	layers map[string]*layer
}

type layer struct {
	done, total int64
	present     bool // already in the runtime: nothing to fetch
}

// Update records one message about layer id (empty for messages about the
// whole pull) and returns the pull's progress after it.
func (l *Layers) Update(id, status string, current, total int64) backends.PullProgress {
	if l.layers == nil {
		l.layers = map[string]*layer{}
	}
	ly, ok := l.layers[id]
	// Messages about the whole pull carry an ID too (Docker's "Pulling
	// from" the tag, Podman's last "Download complete" the image ID): only
	// the phases that start a layer's fetch name a layer.
	if !ok && id != "" && layerStart[status] {
		ly = &layer{}
		l.layers[id] = ly
		l.order = append(l.order, id)
	}
	if ly != nil {
		switch status {
		case "Downloading":
			if total > 0 {
				ly.total = total
			}
			// Counts never go back, whatever order messages come in.
			ly.done = max(ly.done, current)
		case "Already exists":
			ly.present = true
		case "Download complete", "Verifying Checksum", "Extracting", "Pull complete":
			// Extracting counts the same bytes again: the layer is fetched.
			ly.done = max(ly.done, ly.total)
		}
	}
	return l.progress(status)
}

var layerStart = map[string]bool{
	"Pulling fs layer": true, "Waiting": true, "Downloading": true, "Already exists": true,
}

func (l *Layers) progress(status string) backends.PullProgress {
	p := backends.PullProgress{Status: status}
	known := true
	for _, id := range l.order {
		ly := l.layers[id]
		if ly.present {
			continue
		}
		p.Done += ly.done
		p.Total += ly.total
		if ly.total == 0 {
			known = false
		}
	}
	if !known {
		p.Total = 0
	}
	return p
}
