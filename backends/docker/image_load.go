package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/docker/docker/client"

	"github.com/k3d/k3d/backends"
)

// ImageLoad loads a docker-archive or OCI-layout tar stream. A docker-archive
// (including Docker 25+'s save output, which is both) streams straight to the
// daemon; an OCI layout without manifest.json, which Docker before 25 cannot
// load, is converted first (see image_oci.go).
func (r *Runtime) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	oci, stream, err := sniffOCI(tarStream)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	var refs []string
	if oci {
		refs, err = r.loadOCI(ctx, stream)
	} else {
		refs, err = r.loadArchive(ctx, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	return refs, nil
}

// sniffOCI reads the stream's first entry and says whether the archive looks
// like an OCI layout, returning a reader that replays what was read. Writers
// of docker-archives (docker save, go-containerregistry) start with layer
// directories or the config; OCI-layout writers start with blobs/, index.json
// or oci-layout. Only the latter need the slow path, which checks properly.
func sniffOCI(r io.Reader) (bool, io.Reader, error) {
	var seen bytes.Buffer
	tr := tar.NewReader(io.TeeReader(r, &seen))
	oci := false
	for {
		hdr, err := tr.Next()
		if err != nil {
			// Not a tar (or empty): let the daemon say what is wrong with it.
			break
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		if name == "." || name == "" {
			continue
		}
		oci = name == "oci-layout" || name == "index.json" || name == "blobs" || strings.HasPrefix(name, "blobs/")
		break
	}
	return oci, io.MultiReader(bytes.NewReader(seen.Bytes()), r), nil
}

// loadArchive streams a docker-archive to the daemon and returns the
// references its answer names.
func (r *Runtime) loadArchive(ctx context.Context, stream io.Reader) ([]string, error) {
	resp, err := r.cli.ImageLoad(ctx, stream, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, r.typed(err, "image archive", conflictIsExists)
	}
	defer resp.Body.Close()
	refs, err := parseLoadAnswer(resp.Body, resp.JSON)
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// loadMessage is one line of the daemon's JSON answer to a load.
type loadMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// parseLoadAnswer reads "Loaded image: REF" and "Loaded image ID: ID" lines
// from the daemon's answer (JSON messages, or plain text from old daemons).
// An error message in the stream fails the load.
func parseLoadAnswer(body io.Reader, isJSON bool) ([]string, error) {
	var refs []string
	line := func(s string) {
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			if ref, ok := strings.CutPrefix(l, "Loaded image: "); ok {
				refs = append(refs, ref)
			} else if id, ok := strings.CutPrefix(l, "Loaded image ID: "); ok {
				refs = append(refs, id)
			}
		}
	}
	if !isJSON {
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			line(sc.Text())
		}
		return refs, sc.Err()
	}
	dec := json.NewDecoder(body)
	for {
		var m loadMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return refs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the daemon's answer: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			m.Error = m.ErrorDetail.Message
		}
		if m.Error != "" {
			return nil, backends.NewError(backends.ErrInvalid, "image archive", m.Error)
		}
		line(m.Stream)
	}
}
