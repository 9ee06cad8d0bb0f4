package transport

import (
	"io"
	"net"
	"testing"
)

const benchChunk = 1 << 20

// BenchmarkStreamThroughput moves data one way over one stream in 1 MiB
// writes over loopback TCP.
func BenchmarkStreamThroughput(b *testing.B) {
	c, s := sessionPair(b, nil, nil)
	ctx := testCtx(b)
	st, err := c.Open(ctx)
	if err != nil {
		b.Fatal(err)
	}
	st.Write([]byte{0})
	peer, err := s.Accept(ctx)
	if err != nil {
		b.Fatal(err)
	}
	benchThroughput(b, st, peer)
}

// BenchmarkTCPThroughput is the same over a raw loopback TCP connection.
func BenchmarkTCPThroughput(b *testing.B) {
	c, s := tcpPair(b)
	defer c.Close()
	defer s.Close()
	c.Write([]byte{0})
	benchThroughput(b, c, s)
}

func benchThroughput(b *testing.B, w io.Writer, r io.Reader) {
	done := make(chan error, 1)
	buf := make([]byte, benchChunk)
	// Consume the 1-byte opener, then exactly b.N MiB.
	var one [1]byte
	if _, err := io.ReadFull(r, one[:]); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		rb := make([]byte, 256<<10)
		for left := int64(b.N) * benchChunk; left > 0; {
			n, err := r.Read(rb[:min(int64(len(rb)), left)])
			left -= int64(n)
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStreamRoundTrip is a small-message ping-pong on one stream.
func BenchmarkStreamRoundTrip(b *testing.B) {
	c, s := sessionPair(b, nil, nil)
	a, p := openAccept(b, c, s, "x")
	benchRoundTrip(b, a, p)
}

// BenchmarkTCPRoundTrip is the same over raw loopback TCP.
func BenchmarkTCPRoundTrip(b *testing.B) {
	c, s := tcpPair(b)
	defer c.Close()
	defer s.Close()
	benchRoundTrip(b, c, s)
}

func benchRoundTrip(b *testing.B, a, p net.Conn) {
	const size = 64
	go func() {
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(p, buf); err != nil {
				return
			}
			if _, err := p.Write(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, size)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			b.Fatal(err)
		}
	}
}
