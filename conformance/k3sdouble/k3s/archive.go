package k3s

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// archiveImage is one image found in a docker-archive or OCI layout tar, as
// containerd would record it: its names, the digest of its manifest (or
// index), and the total size of its content.
type archiveImage struct {
	Refs         []string
	Digest       string
	MediaType    string
	ConfigDigest string
	Size         int64
	Platforms    []string
}

const (
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaOCIIndex       = "application/vnd.oci.image.index.v1+json"
	// keepBelow: blobs up to this size are kept in memory, since manifests
	// and configs are among them; layers are only hashed as they stream by.
	keepBelow = 4 << 20
)

type blob struct {
	digest string
	size   int64
	head   []byte
	data   []byte // nil for large blobs
}

var errFormat = errors.New("unrecognized image format")

// readImageArchive reads a whole image tar stream, as `ctr images import`
// does, and returns the images it holds.
func readImageArchive(r io.Reader) ([]archiveImage, error) {
	tr := tar.NewReader(r)
	files := map[string]*blob{}
	links := map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errFormat, err)
		}
		name := cleanName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			h := sha256.New()
			var buf bytes.Buffer
			var w io.Writer = h
			if hdr.Size <= keepBelow {
				w = io.MultiWriter(h, &buf)
			}
			head := &headWriter{}
			n, err := io.Copy(io.MultiWriter(w, head), tr)
			if err != nil {
				return nil, fmt.Errorf("%w: read %s: %v", errFormat, hdr.Name, err)
			}
			b := &blob{digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: n, head: head.b}
			if hdr.Size <= keepBelow {
				b.data = buf.Bytes()
			}
			files[name] = b
		case tar.TypeSymlink:
			links[name] = cleanName(path.Join(path.Dir(name), hdr.Linkname))
		case tar.TypeLink:
			links[name] = cleanName(hdr.Linkname)
		}
	}
	get := func(name string) (*blob, bool) {
		name = cleanName(name)
		for i := 0; i < 10; i++ {
			if b, ok := files[name]; ok {
				return b, true
			}
			next, ok := links[name]
			if !ok {
				return nil, false
			}
			name = next
		}
		return nil, false
	}
	if _, ok := get("index.json"); ok {
		if _, ok := get("oci-layout"); ok {
			return readOCILayout(get)
		}
	}
	if _, ok := get("manifest.json"); ok {
		return readDockerArchive(get)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no files in the archive", errFormat)
	}
	return nil, fmt.Errorf("%w: neither manifest.json nor an OCI layout", errFormat)
}

func cleanName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

type headWriter struct{ b []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if len(h.b) < 4 {
		h.b = append(h.b, p[:min(len(p), 4-len(h.b))]...)
	}
	return len(p), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Variant      string `json:"variant,omitempty"`
	} `json:"platform,omitempty"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant"`
}

func (c imageConfig) platform() string {
	if c.OS == "" && c.Architecture == "" {
		return ""
	}
	p := c.OS + "/" + c.Architecture
	if c.Variant != "" {
		p += "/" + c.Variant
	}
	return p
}

func readDockerArchive(get func(string) (*blob, bool)) ([]archiveImage, error) {
	mf, _ := get("manifest.json")
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(mf.data, &entries); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", errFormat, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: manifest.json lists no image", errFormat)
	}
	var out []archiveImage
	for _, e := range entries {
		cfg, ok := get(e.Config)
		if !ok || cfg.data == nil {
			return nil, fmt.Errorf("%w: config %s is missing", errFormat, e.Config)
		}
		var ic imageConfig
		if err := json.Unmarshal(cfg.data, &ic); err != nil {
			return nil, fmt.Errorf("%w: config %s: %v", errFormat, e.Config, err)
		}
		m := struct {
			SchemaVersion int          `json:"schemaVersion"`
			MediaType     string       `json:"mediaType"`
			Config        descriptor   `json:"config"`
			Layers        []descriptor `json:"layers"`
		}{SchemaVersion: 2, MediaType: mediaDockerManifest,
			Config: descriptor{MediaType: "application/vnd.docker.container.image.v1+json", Digest: cfg.digest, Size: cfg.size}}
		size := cfg.size
		for _, l := range e.Layers {
			lb, ok := get(l)
			if !ok {
				return nil, fmt.Errorf("%w: layer %s is missing", errFormat, l)
			}
			mt := "application/vnd.docker.image.rootfs.diff.tar"
			if bytes.HasPrefix(lb.head, []byte{0x1f, 0x8b}) {
				mt += ".gzip"
			}
			m.Layers = append(m.Layers, descriptor{MediaType: mt, Digest: lb.digest, Size: lb.size})
			size += lb.size
		}
		raw, _ := json.Marshal(m)
		sum := sha256.Sum256(raw)
		img := archiveImage{Digest: "sha256:" + hex.EncodeToString(sum[:]), MediaType: mediaDockerManifest,
			ConfigDigest: cfg.digest, Size: size + int64(len(raw))}
		if p := ic.platform(); p != "" {
			img.Platforms = []string{p}
		}
		for _, t := range e.RepoTags {
			img.Refs = append(img.Refs, normalizeRef(t))
		}
		out = append(out, img)
	}
	return out, nil
}

func readOCILayout(get func(string) (*blob, bool)) ([]archiveImage, error) {
	ib, _ := get("index.json")
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(ib.data, &index); err != nil {
		return nil, fmt.Errorf("%w: index.json: %v", errFormat, err)
	}
	if len(index.Manifests) == 0 {
		return nil, fmt.Errorf("%w: index.json lists no image", errFormat)
	}
	blobOf := func(d descriptor) (*blob, error) {
		algo, hexDigest, _ := strings.Cut(d.Digest, ":")
		b, ok := get(path.Join("blobs", algo, hexDigest))
		if !ok {
			return nil, fmt.Errorf("content digest %s: not found", d.Digest)
		}
		return b, nil
	}
	// describe walks a manifest or index: its platforms, config and size.
	var describe func(d descriptor, depth int) (platforms []string, config string, size int64, err error)
	describe = func(d descriptor, depth int) ([]string, string, int64, error) {
		b, err := blobOf(d)
		if err != nil {
			return nil, "", 0, err
		}
		if b.data == nil || depth > 3 {
			return nil, "", b.size, nil
		}
		switch d.MediaType {
		case mediaOCIIndex, mediaDockerList:
			var idx struct {
				Manifests []descriptor `json:"manifests"`
			}
			if err := json.Unmarshal(b.data, &idx); err != nil {
				return nil, "", 0, fmt.Errorf("%w: index %s: %v", errFormat, d.Digest, err)
			}
			var plats []string
			var config string
			size := b.size
			for _, m := range idx.Manifests {
				if m.Platform != nil {
					p := m.Platform.OS + "/" + m.Platform.Architecture
					if m.Platform.Variant != "" {
						p += "/" + m.Platform.Variant
					}
					if m.Platform.OS == "unknown" {
						continue // attestation manifests
					}
					plats = append(plats, p)
				}
				// Content of other platforms may be absent (single-platform
				// exports): count what is there.
				if _, _, s, err := describe(m, depth+1); err == nil {
					size += s
				}
				if config == "" {
					if _, c, _, err := describe(m, depth+1); err == nil {
						config = c
					}
				}
			}
			return plats, config, size, nil
		default:
			var m struct {
				Config descriptor   `json:"config"`
				Layers []descriptor `json:"layers"`
			}
			if err := json.Unmarshal(b.data, &m); err != nil {
				return nil, "", 0, fmt.Errorf("%w: manifest %s: %v", errFormat, d.Digest, err)
			}
			size := b.size + m.Config.Size
			for _, l := range m.Layers {
				size += l.Size
			}
			var plats []string
			if cb, err := blobOf(m.Config); err == nil && cb.data != nil {
				var ic imageConfig
				if json.Unmarshal(cb.data, &ic) == nil && ic.platform() != "" {
					plats = []string{ic.platform()}
				}
			}
			return plats, m.Config.Digest, size, nil
		}
	}
	var out []archiveImage
	for _, d := range index.Manifests {
		plats, config, size, err := describe(d, 0)
		if err != nil {
			return nil, err
		}
		img := archiveImage{Digest: d.Digest, MediaType: d.MediaType, ConfigDigest: config, Size: size, Platforms: plats}
		if n := d.Annotations["io.containerd.image.name"]; n != "" {
			img.Refs = []string{normalizeRef(n)}
		} else if n := d.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(n, "/:") {
			img.Refs = []string{normalizeRef(n)}
		}
		out = append(out, img)
	}
	return out, nil
}

// normalizeRef spells a reference the way containerd stores it:
// foo:bar is docker.io/library/foo:bar, and a missing tag is latest.
func normalizeRef(s string) string {
	s = strings.TrimSpace(s)
	if name, dgst, ok := strings.Cut(s, "@"); ok {
		return normalizeName(name) + "@" + dgst
	}
	name, tag := s, "latest"
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, tag = s[:i], s[i+1:]
	}
	return normalizeName(name) + ":" + tag
}

func normalizeName(n string) string {
	first, _, ok := strings.Cut(n, "/")
	if !ok {
		return "docker.io/library/" + n
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return n
	}
	return "docker.io/" + n
}
