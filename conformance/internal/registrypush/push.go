// Package registrypush uploads an image to a registry the tests run in
// process, over plain HTTP.
package registrypush

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Push uploads img to the registry at base (http://HOST:PORT) as repo:tag
// with the distribution API's monolithic uploads. (go-containerregistry's
// remote.Write would do, but its credential helpers would bring the Docker
// CLI into this module.)
func Push(ctx context.Context, base, repo, tag string, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := pushBlob(ctx, base, repo, d.String(), data); err != nil {
			return err
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := pushBlob(ctx, base, repo, cfgName.String(), cfg); err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	return put(ctx, base+"/v2/"+repo+"/manifests/"+tag, string(mt), manifest)
}

func pushBlob(ctx context.Context, base, repo, digest string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload of %s: %s", digest, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("start upload of %s: %w", digest, err)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	return put(ctx, loc.String(), "application/octet-stream", data)
}

func put(ctx context.Context, url, contentType string, data []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("put %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
