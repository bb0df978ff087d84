package helperimage

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/k3d/k3d/backends"
)

// ErrUnusableExecutable says that k3d's own binary cannot run in the
// runtime's containers: k3d runs on another OS (macOS, Windows) or
// architecture than the runtime, or was built with dynamic linking. The
// helper image must then come from elsewhere (a published image).
var ErrUnusableExecutable = errors.New("k3d's executable cannot run in the runtime's containers")

// checkExecutable returns the Go architecture of exe when it is a static
// Linux executable that the runtime described by info can run.
func checkExecutable(exe string, info backends.Info, k Kind) (string, error) {
	want := goArch(info.Arch)
	if info.OS != "" && !strings.EqualFold(info.OS, "linux") {
		return "", unusable(k, exe, "the runtime runs %s containers", info.OS)
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("helper image: %w", err)
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil {
		return "", unusable(k, exe, "it is not an executable (%v)", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte("MZ")):
		return "", unusable(k, exe, "it is a Windows executable")
	case isMachO(magic):
		return "", unusable(k, exe, "it is a macOS executable")
	case !bytes.Equal(magic, []byte(elf.ELFMAG)):
		return "", unusable(k, exe, "it is not an ELF executable")
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return "", unusable(k, exe, "its ELF headers do not parse (%v)", err)
	}
	if ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
		return "", unusable(k, exe, "it is an executable for %s, not Linux", strings.TrimPrefix(ef.OSABI.String(), "ELFOSABI_"))
	}
	arch := elfArch(ef)
	if want != "" && arch != want {
		return "", unusable(k, exe, "it is built for %s and the runtime runs %s containers", archName(arch, ef), want)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			return "", unusable(k, exe, "it is dynamically linked (build it with CGO_ENABLED=0)")
		}
	}
	if arch == "" {
		arch = want
	}
	return arch, nil
}

func unusable(k Kind, exe, why string, args ...any) error {
	return fmt.Errorf("%w: %s: %s; %s needs a k3d helper image published for the runtime's platform "+
		"(a --helper-image flag is planned for that), %s",
		ErrUnusableExecutable, exe, fmt.Sprintf(why, args...), k.For, k.Without)
}

func isMachO(m []byte) bool {
	for _, magic := range [][]byte{
		{0xfe, 0xed, 0xfa, 0xce}, {0xce, 0xfa, 0xed, 0xfe}, // 32-bit
		{0xfe, 0xed, 0xfa, 0xcf}, {0xcf, 0xfa, 0xed, 0xfe}, // 64-bit
		{0xca, 0xfe, 0xba, 0xbe}, // universal
	} {
		if bytes.Equal(m, magic) {
			return true
		}
	}
	return false
}

// elfArch maps an ELF machine to Go's name for it ("" when k3d has no build
// for it).
func elfArch(f *elf.File) string {
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_386:
		return "386"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_PPC64:
		if f.ByteOrder == binary.LittleEndian {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_RISCV:
		return "riscv64"
	}
	return ""
}

func archName(arch string, f *elf.File) string {
	if arch == "" {
		return strings.TrimPrefix(f.Machine.String(), "EM_")
	}
	return arch
}

// goArch normalises a runtime's architecture: Docker reports Go's names,
// other runtimes may report uname's.
func goArch(a string) string {
	switch strings.ToLower(a) {
	case "x86_64", "x86-64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "arm64/v8":
		return "arm64"
	case "i386", "i686", "386":
		return "386"
	case "armv7l", "armv7", "armhf", "armv6l", "arm":
		return "arm"
	}
	return strings.ToLower(a)
}
