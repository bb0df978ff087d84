package backends

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// NormalizeImageRef spells a reference the way containerd lists it:
// "nginx" is "docker.io/library/nginx:latest".
func NormalizeImageRef(s string) string {
	s = strings.TrimSpace(s)
	name, suffix := s, ":latest"
	if n, dgst, ok := strings.Cut(s, "@"); ok {
		name, suffix = n, "@"+dgst
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, suffix = s[:i], s[i:]
	}
	first, _, ok := strings.Cut(name, "/")
	switch {
	case !ok:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	return name + suffix
}

// RetagArchive passes a docker-archive through, rewriting the RepoTags of its
// manifest.json so that each image carries the reference the user asked for
// as containerd spells it. Podman saves "myapp:dev" as
// "localhost/myapp:dev", which the kubelet never asks for: a pod's
// `image: myapp:dev` means docker.io/library/myapp:dev.
func RetagArchive(r io.Reader, refs []string) io.ReadCloser {
	want := map[string]string{} // "localhost/NAME:TAG" normalized -> wanted
	for _, ref := range refs {
		n := NormalizeImageRef(ref)
		if !strings.HasPrefix(n, "docker.io/") {
			continue
		}
		short := strings.TrimPrefix(strings.TrimPrefix(n, "docker.io/"), "library/")
		want["localhost/"+short] = n
	}
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(r)
		tw := tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(fmt.Errorf("read image archive: %w", err))
				return
			}
			if hdr.Name == "manifest.json" && len(want) > 0 {
				data, err := io.ReadAll(tr)
				if err != nil {
					pw.CloseWithError(err)
					return
				}
				data = rewriteRepoTags(data, want)
				hdr.Size = int64(len(data))
				if err := tw.WriteHeader(hdr); err != nil {
					pw.CloseWithError(err)
					return
				}
				if _, err := tw.Write(data); err != nil {
					pw.CloseWithError(err)
					return
				}
				continue
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

func rewriteRepoTags(data []byte, want map[string]string) []byte {
	var m []map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return data // not ours to judge: ctr reports a broken archive
	}
	changed := false
	for _, entry := range m {
		tags, _ := entry["RepoTags"].([]any)
		for i, t := range tags {
			s, _ := t.(string)
			if n, ok := want[NormalizeImageRef(s)]; ok {
				tags[i] = n
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	out, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return out
}
