package wire

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

// Transport settings shared by the host and every plugin. Both ends of a
// plugin connection must agree on them (a message larger than what the
// receiver accepts fails the stream), so the host dials with DialOptions and
// Serve serves with ServerOptions.
//
// Batches are large messages: a thousand 100-byte events are about 150 KB,
// and a batch of bigger events can be many megabytes. gRPC's defaults are
// tuned for small RPCs: a 4 MB message limit, 32 KB socket buffers, and a
// buffer pool that rounds a 150 KB message up to a 1 MB buffer and zeroes
// all of it on every use. The settings below size them for batches.
const (
	// MaxMessageBytes bounds one batch on the wire.
	MaxMessageBytes = 256 << 20
	// socketBufferBytes is gRPC's read and write buffer per connection:
	// a batch goes out in a few system calls, not dozens.
	socketBufferBytes = 512 << 10
	// windowBytes is HTTP/2's flow-control window, per stream and per
	// connection. Setting it fixes it: gRPC otherwise estimates the
	// bandwidth-delay product, sending a PING with a WINDOW_UPDATE on every
	// message that finds no PING outstanding. On a control stream, whose
	// small messages never grow the estimate to its limit, that was a
	// write and a read more per report and per credit, on both ends.
	// Credits bound what is in flight, so a window this large costs no
	// memory; it is gRPC's own upper bound for the estimate.
	windowBytes = 16 << 20
)

// PeerCommonNamePrefix begins the common name of the certificate a remote
// plugin presents to its peers on the direct data plane; a plugin lets such
// a caller use the Edge service only.
const PeerCommonNamePrefix = "flowctl peer "

// ServerOptions are the gRPC server options of a plugin.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		grpc.ReadBufferSize(socketBufferBytes),
		grpc.WriteBufferSize(socketBufferBytes),
		grpc.InitialWindowSize(windowBytes),
		grpc.InitialConnWindowSize(windowBytes),
		experimental.BufferPool(pool),
	}
}

// DialOptions are the gRPC dial options the host uses to reach a plugin.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithReadBufferSize(socketBufferBytes),
		grpc.WithWriteBufferSize(socketBufferBytes),
		grpc.WithInitialWindowSize(windowBytes),
		grpc.WithInitialConnWindowSize(windowBytes),
	}
}

// The buffer pool is process-wide: gRPC's proto codec, which copies every
// message in and out, uses only the default pool, and the default can be
// replaced only during initialisation. Every flowctl process — the host and
// each plugin — imports this package, so every one uses it.
// A server does not see the replacement: grpc-go copies the default into
// its server defaults when its own package initialises, before this one
// does, so ServerOptions name the pool explicitly. Without that, every
// batch a plugin's Edge service received went through a pool that zeroes
// each buffer it hands out.
func init() { experimental.SetDefaultBufferPool(pool) }

var pool = newBufferPool()

// bufferPool keeps buffers in power-of-two size classes from 256 B to
// 256 MB, so a message gets a buffer at most twice its size. Buffers are not
// zeroed on reuse: gRPC overwrites every byte it hands out before it reads
// them (grpc-go has pools of this kind internally, but none is public).
type bufferPool struct {
	classes [maxClass - minClass + 1]sync.Pool
}

const (
	minClass = 8  // 256 B
	maxClass = 28 // 256 MB
)

var _ mem.BufferPool = (*bufferPool)(nil)

func newBufferPool() *bufferPool { return &bufferPool{} }

// class is the smallest size class holding n bytes.
func class(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

func (p *bufferPool) Get(n int) *[]byte {
	c := class(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if v, ok := p.classes[c-minClass].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<c)
	return &b
}

func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	// Only whole classes come back: a buffer of another capacity is one
	// Get made outside the classes, or a sub-slice, and would not fit.
	if c < 1<<minClass || c > 1<<maxClass || c&(c-1) != 0 {
		return
	}
	p.classes[class(c)-minClass].Put(b)
}
