package backends

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// codec is gRPC's protobuf codec with buffers from a pool that does not
// clear them. gRPC's default pool zeroes every buffer it hands out and rounds
// sizes up to coarse tiers (a 33 KiB message takes, and clears, 1 MiB), which
// made clearing memory the main cost of streaming an image. Every buffer is
// written before it is read, so the clearing buys nothing.
type codec struct {
	pool *dirtyPool
}

var _ encoding.CodecV2 = codec{}

func newCodec() codec { return codec{pool: &dirtyPool{}} }

// Name is the standard one: the wire format is plain protobuf.
func (codec) Name() string { return "proto" }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m := messageOf(v)
	if m == nil {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", v)
	}
	size := proto.Size(m)
	opts := proto.MarshalOptions{UseCachedSize: true} // Size just computed it
	if mem.IsBelowBufferPoolingThreshold(size) {
		b, err := opts.Marshal(m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := c.pool.Get(size)
	if _, err := opts.MarshalAppend((*buf)[:0], m); err != nil {
		c.pool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("unmarshal %T: not a protobuf message", v)
	}
	// proto.Unmarshal copies what it keeps, so the buffer goes back at once.
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}

func messageOf(v any) proto.Message {
	switch v := v.(type) {
	case protoadapt.MessageV2:
		return v
	case protoadapt.MessageV1:
		return protoadapt.MessageV2Of(v)
	}
	return nil
}

// dirtyPool hands out buffers by power-of-two size class without clearing
// them.
type dirtyPool struct {
	classes [maxClass + 1]sync.Pool // classes[i] holds buffers of capacity 1<<i
}

const (
	minClass = 8  // 256 B
	maxClass = 22 // 4 MiB; larger buffers are left to the GC
)

var _ mem.BufferPool = (*dirtyPool)(nil)

func sizeClass(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

func (p *dirtyPool) Get(n int) *[]byte {
	c := sizeClass(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minClass || c > 1<<maxClass || c&(c-1) != 0 {
		return // not one of ours
	}
	p.classes[bits.Len(uint(c))-1].Put(b)
}
