package k3s

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// runCtr is the part of `ctr` that k3d uses: images import and images ls.
// Like k3s's bundled ctr, the default namespace is k8s.io, where the
// kubelet looks for images.
func runCtr(ctx context.Context, env Env, args []string) int {
	namespace := env.Getenv("CONTAINERD_NAMESPACE")
	if namespace == "" {
		namespace = "k8s.io"
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "ctr: "+format+"\n", a...)
		return 1
	}
	// Global flags come before the command.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		args = args[1:]
		switch name {
		case "debug", "h", "help", "v", "version":
			if name == "v" || name == "version" {
				fmt.Fprintf(env.Stdout, "ctr github.com/containerd/containerd/v2 %s\n", strings.TrimPrefix(runtimeVersion, "containerd://"))
				return 0
			}
			continue
		case "n", "namespace", "a", "address", "timeout", "connect-timeout":
			if !hasVal {
				if len(args) == 0 {
					return fail("flag needs an argument: -%s", name)
				}
				val, args = args[0], args[1:]
			}
			if name == "n" || name == "namespace" {
				namespace = val
			}
		default:
			return fail("flag provided but not defined: -%s", name)
		}
	}
	if len(args) == 0 {
		return fail("no command given (want: images import|ls)")
	}
	switch args[0] {
	case "images", "image", "i":
	case "version":
		fmt.Fprintf(env.Stdout, "Client:\n  Version:  %s\n\nServer:\n  Version:  %s\n", strings.TrimPrefix(runtimeVersion, "containerd://"), strings.TrimPrefix(runtimeVersion, "containerd://"))
		return 0
	default:
		return fail("the k3s test double's ctr has no command %q", args[0])
	}
	if len(args) < 2 {
		return fail("no images command given (want: import|ls)")
	}
	dataDir := dataDirFromEnv(env)
	switch sub, rest := args[1], args[2:]; sub {
	case "import":
		return ctrImport(env, dataDir, namespace, rest, fail)
	case "ls", "list":
		return ctrList(env, dataDir, namespace, rest, fail)
	case "rm", "remove", "delete", "del":
		return ctrRemove(env, dataDir, namespace, rest, fail)
	default:
		return fail("the k3s test double's ctr has no images command %q", sub)
	}
}

func ctrImport(env Env, dataDir, namespace string, args []string, fail func(string, ...any) int) int {
	var sources []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			sources = append(sources, a)
			continue
		}
		name, _, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "base-name", "index-name", "platform", "snapshotter", "label":
			if !hasVal {
				i++
			}
		case "digests", "all-platforms", "local", "no-unpack", "compress-blobs", "skip-digest-for-named",
			"discard-unpacked-layers", "skip-verify", "sync-fs", "debug":
		default:
			return fail("flag provided but not defined: -%s", name)
		}
	}
	if len(sources) == 0 {
		return fail("expected 1 argument: the archive to import, or - for stdin")
	}
	for _, src := range sources {
		var r io.Reader = env.Stdin
		if src != "-" {
			f, err := os.Open(src)
			if err != nil {
				return fail("%v", err)
			}
			defer f.Close()
			r = f
		}
		found, err := readImageArchive(r)
		if err != nil {
			return fail("%v", err)
		}
		added, err := addImages(dataDir, namespace, found, env.Now())
		if err != nil {
			return fail("record imported images: %v", err)
		}
		for _, img := range added {
			fmt.Fprintf(env.Stdout, "unpacking %s (%s)...done\n", img.Ref, img.Digest)
		}
	}
	return 0
}

func ctrList(env Env, dataDir, namespace string, args []string, fail func(string, ...any) int) int {
	quiet := false
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "q", "quiet":
			quiet = true
		default:
			if strings.HasPrefix(a, "-") {
				return fail("flag provided but not defined: %s", a)
			}
			// Filters are not supported; listing everything is the
			// closest harmless answer.
		}
	}
	imgs, err := readImages(dataDir)
	if err != nil {
		return fail("%v", err)
	}
	if quiet {
		for _, img := range imgs {
			if img.Namespace == namespace {
				fmt.Fprintln(env.Stdout, img.Ref)
			}
		}
		return 0
	}
	tw := tabwriter.NewWriter(env.Stdout, 1, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t")
	for _, img := range imgs {
		if img.Namespace != namespace {
			continue
		}
		labels := "-"
		if namespace == "k8s.io" {
			labels = "io.cri-containerd.image=managed"
		}
		plats := strings.Join(img.Platforms, ",")
		if plats == "" {
			plats = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", img.Ref, img.MediaType, img.Digest, binarySize(img.Size), plats, labels)
	}
	tw.Flush()
	return 0
}

func ctrRemove(env Env, dataDir, namespace string, refs []string, fail func(string, ...any) int) int {
	var missing []string
	err := updateImages(dataDir, func(imgs []storedImage) []storedImage {
		for _, ref := range refs {
			kept := imgs[:0]
			found := false
			for _, img := range imgs {
				if img.Namespace == namespace && (img.Ref == ref || img.Ref == normalizeRef(ref)) {
					found = true
					continue
				}
				kept = append(kept, img)
			}
			imgs = kept
			if !found {
				missing = append(missing, ref)
			}
		}
		return imgs
	})
	if err != nil {
		return fail("%v", err)
	}
	for _, ref := range refs {
		fmt.Fprintln(env.Stdout, ref)
	}
	if len(missing) > 0 {
		return fail("image %q: not found", missing[0])
	}
	return 0
}

// binarySize is containerd's size format ("3.0 MiB").
func binarySize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// decimalSize is crictl's size format ("3.15MB").
func decimalSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

// runCrictl answers `crictl images`, the CRI view of the k8s.io namespace:
// as a table, IDs only (-q), or as JSON (-o json) with one entry per image
// ID, the way crictl prints the CRI's ListImages.
func runCrictl(ctx context.Context, env Env, args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "crictl: "+format+"\n", a...)
		return 1
	}
	// Global flags come before the command; these take a value.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		name, _, hasVal := strings.Cut(strings.TrimLeft(args[0], "-"), "=")
		args = args[1:]
		switch name {
		case "r", "runtime-endpoint", "i", "image-endpoint", "c", "config", "t", "timeout":
			if !hasVal && len(args) > 0 {
				args = args[1:]
			}
		}
	}
	if len(args) > 0 && args[0] == "pull" {
		return crictlPull(ctx, env, args[1:], fail)
	}
	if len(args) == 0 || (args[0] != "images" && args[0] != "image" && args[0] != "img") {
		return fail("the k3s test double supports only `crictl images` and `crictl pull`")
	}
	quiet, output := false, "table"
	var filter string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-o" || a == "--output":
			if i+1 >= len(rest) {
				return fail("flag needs an argument: %s", a)
			}
			i++
			output = rest[i]
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--output="):
			_, output, _ = strings.Cut(a, "=")
		case strings.HasPrefix(a, "-o") && !strings.HasPrefix(a, "--"):
			output = strings.TrimPrefix(a, "-o")
		case a == "--digests" || a == "--no-trunc" || a == "-v" || a == "--verbose" || a == "-a" || a == "--all" || a == "--pinned":
		case strings.HasPrefix(a, "-"):
			return fail("flag provided but not defined: %s", a)
		default:
			filter = a
		}
	}
	imgs, err := readImages(dataDirFromEnv(env))
	if err != nil {
		return fail("%v", err)
	}
	var k8s []storedImage
	for _, img := range imgs {
		if img.Namespace == "k8s.io" && (filter == "" || criMatches(img.Ref, filter)) {
			k8s = append(k8s, img)
		}
	}
	switch output {
	case "json":
		return crictlJSON(env, k8s, fail)
	case "table", "":
	default:
		return fail("unsupported output format %q (the k3s test double knows json and table)", output)
	}
	tw := tabwriter.NewWriter(env.Stdout, 10, 1, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "IMAGE\tTAG\tIMAGE ID\tSIZE")
	}
	for _, img := range k8s {
		if strings.Contains(img.Ref, "@") {
			continue
		}
		id := strings.TrimPrefix(img.ConfigDigest, "sha256:")
		if quiet {
			fmt.Fprintln(tw, "sha256:"+id)
			continue
		}
		name, tag := img.Ref, "<none>"
		if i := strings.LastIndex(img.Ref, ":"); i > strings.LastIndex(img.Ref, "/") {
			name, tag = img.Ref[:i], img.Ref[i+1:]
		}
		if len(id) > 13 {
			id = id[:13]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, tag, id, decimalSize(img.Size))
	}
	tw.Flush()
	return 0
}

// crictlPull is `crictl pull [--creds USER[:PASS]] IMAGE`: the image comes
// through the mirrors of the node's registries.yaml, as with k3s's containerd.
func crictlPull(ctx context.Context, env Env, args []string, fail func(string, ...any) int) int {
	var ref, creds string
	for i := 0; i < len(args); i++ {
		a := args[i]
		flag, val, hasVal := strings.Cut(a, "=")
		switch {
		case flag == "--creds" || flag == "--auth" || flag == "--pod-config" || flag == "-p" || flag == "--annotation" || flag == "-a":
			if !hasVal {
				if i+1 >= len(args) {
					return fail("flag needs an argument: %s", a)
				}
				i++
				val = args[i]
			}
			if flag == "--creds" {
				creds = val
			}
		case strings.HasPrefix(a, "-"):
			return fail("flag provided but not defined: %s", a)
		case ref != "":
			return fail("pull takes one image, got %q and %q", ref, a)
		default:
			ref = a
		}
	}
	if ref == "" {
		return fail("image name cannot be empty")
	}
	file := env.Getenv("K3S_PRIVATE_REGISTRY")
	if file == "" {
		file = DefaultRegistriesFile
	}
	id, err := pullImage(ctx, dataDirFromEnv(env), file, ref, creds, env.Now())
	if err != nil {
		return fail("pulling image: %v", err)
	}
	fmt.Fprintf(env.Stdout, "Image is up to date for %s\n", id)
	return 0
}

// criImage is one image as `crictl images -o json` prints it.
type criImage struct {
	ID          string   `json:"id"`
	RepoTags    []string `json:"repoTags"`
	RepoDigests []string `json:"repoDigests"`
	// Size is a decimal string: protobuf's JSON for a uint64.
	Size     string  `json:"size"`
	UID      *string `json:"uid"`
	Username string  `json:"username"`
	Spec     *string `json:"spec"`
	Pinned   bool    `json:"pinned"`
}

// crictlJSON groups the namespace's names by image ID, as containerd's CRI
// does: tags under repoTags, NAME@manifest-digest under repoDigests.
func crictlJSON(env Env, imgs []storedImage, fail func(string, ...any) int) int {
	var list []*criImage
	byID := map[string]*criImage{}
	for _, img := range imgs {
		id := img.ConfigDigest
		if id == "" {
			id = img.Digest // an index without a config for this platform
		}
		c, ok := byID[id]
		if !ok {
			c = &criImage{ID: id, RepoTags: []string{}, RepoDigests: []string{}, Size: fmt.Sprint(img.Size)}
			byID[id] = c
			list = append(list, c)
		}
		name := img.Ref
		if n, _, isDigest := strings.Cut(img.Ref, "@"); isDigest {
			name = n
		} else {
			c.RepoTags = appendNew(c.RepoTags, img.Ref)
			if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
				name = name[:i]
			}
		}
		c.RepoDigests = appendNew(c.RepoDigests, name+"@"+img.Digest)
	}
	out := struct {
		Images []*criImage `json:"images"`
	}{Images: list}
	if out.Images == nil {
		out.Images = []*criImage{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintln(env.Stdout, string(b))
	return 0
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// criMatches is crictl's image filter: a full reference, or a repository
// with any tag.
func criMatches(ref, filter string) bool {
	want := normalizeRef(filter)
	if ref == want {
		return true
	}
	repo := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo = ref[:i]
	}
	return strings.TrimSuffix(want, ":latest") == repo
}

// importAirgapImages imports the tarballs in <data-dir>/agent/images at
// start, as k3s does for air-gapped nodes.
func importAirgapImages(env Env, log *logger, dataDir string) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "agent", "images", "*.tar"))
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			log.Errorf("Unable to import %s: %v", f, err)
			continue
		}
		found, err := readImageArchive(r)
		r.Close()
		if err == nil {
			_, err = addImages(dataDir, "k8s.io", found, env.Now())
		}
		if err != nil {
			log.Errorf("Unable to import %s: %v", f, err)
			continue
		}
		log.Infof("Imported images from %s", f)
	}
}
