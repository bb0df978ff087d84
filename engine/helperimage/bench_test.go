package helperimage

import (
	"context"
	"debug/elf"
	"strings"
	"testing"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/backends/fake"
)

// Run with: go test -run '^$' -bench . ./engine/helperimage/
// "first" is what the first cluster command of a k3d process pays to name
// the helper image of a k3d-sized (50 MB) binary; "cached" what every later
// call pays.

func BenchmarkEnsurePresentImage(b *testing.B) {
	exe := elfFixture(b, elf.EM_X86_64, elf.ELFOSABI_NONE, false, strings.Repeat("k3d ", 50<<20/4))
	rt := newRecorder("amd64")
	ctx := context.Background()
	if _, err := Ensure(ctx, rt, exe); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.Run("first", func(b *testing.B) {
		b.SetBytes(50 << 20)
		for range b.N {
			digests.Lock()
			clear(digests.m)
			digests.Unlock()
			if _, err := Ensure(ctx, rt, exe); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for range b.N {
			if _, err := Ensure(ctx, rt, exe); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEnsureLoad(b *testing.B) {
	exe := elfFixture(b, elf.EM_X86_64, elf.ELFOSABI_NONE, false, strings.Repeat("k3d ", 50<<20/4))
	ctx := context.Background()
	b.SetBytes(50 << 20)
	b.ResetTimer()
	for range b.N {
		// A fresh runtime each time: the image is missing and gets built and
		// streamed (the fake reads the whole stream).
		if _, err := Ensure(ctx, fake.New(backends.Info{OS: "linux", Arch: "amd64"}), exe); err != nil {
			b.Fatal(err)
		}
	}
}
