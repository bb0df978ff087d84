package helperimage

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/fake"
)

// elfFixture writes an executable header for machine (and, with interp, the
// program header a dynamically linked binary has) followed by filler, enough
// for the checks Ensure makes; it is never run.
func elfFixture(t testing.TB, machine elf.Machine, abi elf.OSABI, interp bool, filler string) string {
	t.Helper()
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	hdr.Ident[elf.EI_OSABI] = byte(abi)
	if interp {
		hdr.Phoff, hdr.Phnum = 64, 1
	}
	binary.Write(&buf, binary.LittleEndian, hdr)
	if interp {
		binary.Write(&buf, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 120, Filesz: 28})
		buf.WriteString("/lib64/ld-linux-x86-64.so.2\x00")
	}
	buf.WriteString(filler)
	path := filepath.Join(t.TempDir(), "k3d")
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// recorder is the in-memory runtime, keeping a copy of each archive loaded.
type recorder struct {
	*fake.Runtime
	mu       sync.Mutex
	archives [][]byte
}

func newRecorder(arch string) *recorder {
	return &recorder{Runtime: fake.New(backends.Info{OS: "linux", Arch: arch})}
}

func (r *recorder) ImageLoad(ctx context.Context, tarStream io.Reader) ([]string, error) {
	var buf bytes.Buffer
	refs, err := r.Runtime.ImageLoad(ctx, io.TeeReader(tarStream, &buf))
	r.mu.Lock()
	r.archives = append(r.archives, buf.Bytes())
	r.mu.Unlock()
	return refs, err
}

var refPattern = regexp.MustCompile(`^k3d-helper:dev-[0-9a-f]{12}$`)

func TestEnsureLoadsTheImageOnceAndReusesIt(t *testing.T) {
	ctx := context.Background()
	exe := elfFixture(t, elf.EM_X86_64, elf.ELFOSABI_NONE, false, "k3d static binary")
	rt := newRecorder("amd64")

	ref, err := Ensure(ctx, rt, exe)
	if err != nil {
		t.Fatal(err)
	}
	if !refPattern.MatchString(ref) {
		t.Fatalf("ref %q does not look like k3d-helper:dev-<12 hex>", ref)
	}
	data, _ := os.ReadFile(exe)
	if !strings.HasSuffix(ref, "-"+digestBytes(data)[:12]) {
		t.Fatalf("ref %q does not end with the binary's digest %s", ref, digestBytes(data)[:12])
	}
	if ok, _ := rt.ImageExists(ctx, ref); !ok {
		t.Fatalf("%s is not in the runtime after Ensure", ref)
	}

	again, err := Ensure(ctx, rt, exe)
	if err != nil || again != ref {
		t.Fatalf("second Ensure = %q, %v; want %q", again, err, ref)
	}
	if n := rt.Calls("ImageLoad"); n != 1 {
		t.Fatalf("image loaded %d times, want once", n)
	}

	img, err := tarball.Image(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rt.archives[0])), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/bin/k3d" {
		t.Errorf("entrypoint %q, want [/bin/k3d]", got)
	}
	if cf.Config.User != "65534:65534" {
		t.Errorf("user %q, want 65534:65534", cf.Config.User)
	}
	if cf.Config.Labels["app"] != "k3d" {
		t.Errorf("labels %v, want app=k3d", cf.Config.Labels)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}

	files := layerFiles(t, img)
	bin, ok := files["bin/k3d"]
	if !ok || bin.hdr.Mode&0o7777 != 0o755 || !bytes.Equal(bin.data, data) {
		t.Errorf("/bin/k3d in the image: present %v, mode %o, same content %v", ok, bin.hdr.Mode, bytes.Equal(bin.data, data))
	}
	if d := files["etc/k3d/"]; d.hdr == nil || d.hdr.Uid != 65534 || d.hdr.Typeflag != tar.TypeDir {
		t.Errorf("/etc/k3d is not a directory owned by nobody: %+v", d.hdr)
	}
	if d := files["tmp/"]; d.hdr == nil || d.hdr.Mode&0o7777 != 0o1777 {
		t.Errorf("/tmp is not a sticky world-writable directory: %+v", d.hdr)
	}
	if !strings.Contains(string(files["etc/passwd"].data), "nobody:x:65534:65534:") ||
		!strings.Contains(string(files["etc/group"].data), ":65534:") {
		t.Errorf("passwd/group lack nobody:\n%s\n%s", files["etc/passwd"].data, files["etc/group"].data)
	}
}

type layerFile struct {
	hdr  *tar.Header
	data []byte
}

func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[hdr.Name] = layerFile{hdr, data}
	}
}

func TestEnsureMakesANewImageForANewBinary(t *testing.T) {
	ctx := context.Background()
	exe := elfFixture(t, elf.EM_AARCH64, elf.ELFOSABI_LINUX, false, "v1")
	rt := newRecorder("aarch64")
	first, err := Ensure(ctx, rt, exe)
	if err != nil {
		t.Fatal(err)
	}
	// An upgrade replaces the file (new size and time).
	upgraded := elfFixture(t, elf.EM_AARCH64, elf.ELFOSABI_LINUX, false, "v2 is longer")
	if err := os.Rename(upgraded, exe); err != nil {
		t.Fatal(err)
	}
	second, err := Ensure(ctx, rt, exe)
	if err != nil {
		t.Fatal(err)
	}
	if first == second || rt.Calls("ImageLoad") != 2 {
		t.Fatalf("after replacing the binary: refs %s then %s, %d loads; want a new image", first, second, rt.Calls("ImageLoad"))
	}
}

func TestEnsureRefusesBinariesThatCannotRunInTheRuntime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exe    func(t *testing.T) string
		rtOS   string
		rtArch string
		want   string
	}{
		{"other architecture", func(t *testing.T) string {
			return elfFixture(t, elf.EM_AARCH64, elf.ELFOSABI_NONE, false, "")
		}, "linux", "amd64", "built for arm64 and the runtime runs amd64"},
		{"macOS binary", func(t *testing.T) string {
			return writeFile(t, "\xcf\xfa\xed\xfe rest of a Mach-O")
		}, "linux", "arm64", "macOS executable"},
		{"Windows binary", func(t *testing.T) string {
			return writeFile(t, "MZ\x90\x00 rest of a PE")
		}, "linux", "amd64", "Windows executable"},
		{"FreeBSD binary", func(t *testing.T) string {
			return elfFixture(t, elf.EM_X86_64, elf.ELFOSABI_FREEBSD, false, "")
		}, "linux", "amd64", "for FREEBSD"},
		{"dynamically linked", func(t *testing.T) string {
			return elfFixture(t, elf.EM_X86_64, elf.ELFOSABI_NONE, true, "")
		}, "linux", "x86_64", "CGO_ENABLED=0"},
		{"Windows containers", func(t *testing.T) string {
			return elfFixture(t, elf.EM_X86_64, elf.ELFOSABI_NONE, false, "")
		}, "windows", "amd64", "runs windows containers"},
		{"a script", func(t *testing.T) string {
			return writeFile(t, "#!/bin/sh\necho k3d\n")
		}, "linux", "amd64", "not an ELF executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := fake.New(backends.Info{OS: tc.rtOS, Arch: tc.rtArch})
			_, err := Ensure(context.Background(), rt, tc.exe(t))
			if !errors.Is(err, ErrUnusableExecutable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ensure = %v; want ErrUnusableExecutable saying %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "helper image published") {
				t.Errorf("the error does not say what to do instead: %v", err)
			}
			if rt.Calls("ImageLoad") != 0 {
				t.Fatal("an image was loaded anyway")
			}
		})
	}
}

func TestEnsureReportsALoadFailure(t *testing.T) {
	exe := elfFixture(t, elf.EM_X86_64, elf.ELFOSABI_NONE, false, strings.Repeat("x", 1<<20))
	rt := fake.New(backends.Info{OS: "linux", Arch: "amd64"})
	rt.Fail("ImageLoad", "", backends.NewError(backends.ErrInvalid, "image archive", "disk full"))
	_, err := Ensure(context.Background(), rt, exe)
	if !backends.IsInvalid(err) || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "k3d-helper:") {
		t.Fatalf("Ensure = %v; want the runtime's typed error naming the image", err)
	}
}

func TestTagSafe(t *testing.T) {
	for in, want := range map[string]string{
		"v5.8.3": "v5.8.3",
		"v0.0.0-20251125081500-0123456789ab+dirty": "v0.0.0-20251125081500-0123456789ab-dirty",
		"":                       "dev",
		".hidden":                "hidden",
		strings.Repeat("a", 300): strings.Repeat("a", 100),
	} {
		if got := tagSafe(in); got != want {
			t.Errorf("tagSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k3d")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
