package netconnect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestDatapackLayout(t *testing.T) {
	d := Datapack{Head: [4]byte{'F', 'F', 'L', 'Y'}, ProtocolVersion: 7, ServerVersion: 0x01020304}
	pkt, err := d.Encode(1001, []byte("game1 alice"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{'F', 'F', 'L', 'Y', 7, 1, 2, 3, 4, 0, 0, 0, 15, 0, 0, 0x03, 0xe9}
	want = append(want, "game1 alice"...)
	if !bytes.Equal(pkt, want) {
		t.Fatalf("packet\n% x\nwant\n% x", pkt, want)
	}
	h, body, n, err := d.Decode(append(pkt, 0xff))
	if err != nil || n != len(pkt) || h.Command != 1001 || string(body) != "game1 alice" {
		t.Fatalf("Decode = %+v %q %d %v", h, body, n, err)
	}
	for i := range len(pkt) {
		if _, _, n, err := d.Decode(pkt[:i]); n != 0 || err != nil {
			t.Fatalf("Decode of %d bytes = %d, %v; want more input", i, n, err)
		}
	}
}

func TestDatapackBadHeaders(t *testing.T) {
	d := Datapack{Head: [4]byte{1, 2, 3, 4}, ProtocolVersion: 1, ServerVersion: 9, MaxBody: 100}
	good, _ := d.Encode(5, []byte("x"))
	mutate := func(f func(h []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name  string
		pkt   []byte
		want  error
		field string
	}{
		{"head", mutate(func(h []byte) { h[2] = 0 }), ErrBadHead, "head"},
		{"protocol", mutate(func(h []byte) { h[4] = 2 }), ErrBadVersion, "protocol version"},
		{"server", mutate(func(h []byte) { h[8] = 8 }), ErrBadVersion, "server version"},
		{"short length", mutate(func(h []byte) { binary.BigEndian.PutUint32(h[9:], 3) }), ErrBadLength, "length"},
		{"too large", mutate(func(h []byte) { binary.BigEndian.PutUint32(h[9:], 105) }), ErrTooLarge, "body length"},
		{"huge", mutate(func(h []byte) { binary.BigEndian.PutUint32(h[9:], 0xffffffff) }), ErrTooLarge, "body length"},
	} {
		_, _, _, err := d.Decode(tc.pkt)
		var he *HeaderError
		if !errors.Is(err, tc.want) || !errors.As(err, &he) || he.Field != tc.field {
			t.Errorf("%s: Decode error %v, want %v in field %q", tc.name, err, tc.want, tc.field)
		}
		// The reader refuses it from the header alone: the 5-byte-short
		// stream would be io.ErrUnexpectedEOF if it read the body.
		_, _, err = NewReader(&d, bytes.NewReader(tc.pkt[:HeaderSize])).Read()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Reader error %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := d.Encode(1, make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encoding 101 bytes with MaxBody 100: %v, want ErrTooLarge", err)
	}
	// The maximum itself passes.
	if _, err := d.Encode(1, make([]byte, 100)); err != nil {
		t.Errorf("encoding 100 bytes with MaxBody 100: %v", err)
	}
}

// countingReader counts its Read calls.
type countingReader struct {
	r     io.Reader
	calls int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.calls++
	return c.r.Read(p)
}

// TestReaderPieces reads packets that arrive a byte at a time: each read
// brings progress (Firefly's parser looped forever on a partial body).
func TestReaderPieces(t *testing.T) {
	var d Datapack
	var stream []byte
	bodies := []string{"", "a", "hello, world", string(bytes.Repeat([]byte("z"), 3000))}
	for i, b := range bodies {
		stream, _ = d.Append(stream, uint32(i), []byte(b))
	}
	cr := &countingReader{r: iotest.OneByteReader(bytes.NewReader(stream))}
	rd := NewReader(&d, cr)
	for i, b := range bodies {
		h, body, err := rd.Read()
		if err != nil || h.Command != uint32(i) || string(body) != b {
			t.Fatalf("packet %d: %+v %d bytes %v", i, h, len(body), err)
		}
	}
	if _, _, err := rd.Read(); err != io.EOF {
		t.Fatalf("after the last packet: %v, want io.EOF", err)
	}
	if cr.calls > len(stream)+2 {
		t.Fatalf("%d reads for %d bytes one at a time", cr.calls, len(stream))
	}
	// A stream cut inside a body.
	_, _, err := NewReader(&d, bytes.NewReader(stream[:HeaderSize+3+HeaderSize+5])).Read()
	if err != nil {
		t.Fatal(err)
	}
	rd = NewReader(&d, bytes.NewReader(stream[:HeaderSize+HeaderSize+1+HeaderSize+5]))
	rd.Read()
	rd.Read()
	if _, _, err := rd.Read(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut body: %v, want io.ErrUnexpectedEOF", err)
	}
}

// emptyReader returns no data and no error, forever.
type emptyReader struct{ calls int }

func (e *emptyReader) Read(p []byte) (int, error) {
	e.calls++
	return 0, nil
}

func TestReaderNoProgress(t *testing.T) {
	var d Datapack
	e := &emptyReader{}
	if _, _, err := NewReader(&d, e).Read(); !errors.Is(err, ErrNoProgress) {
		t.Fatalf("header from an empty reader: %v, want ErrNoProgress", err)
	}
	pkt, _ := d.Encode(1, make([]byte, 2000))
	e2 := &emptyReader{}
	rd := NewReader(&d, io.MultiReader(bytes.NewReader(pkt[:600]), e2))
	if _, _, err := rd.Read(); !errors.Is(err, ErrNoProgress) {
		t.Fatalf("body from an empty reader: %v, want ErrNoProgress", err)
	}
	if e.calls > maxEmptyReads || e2.calls > maxEmptyReads {
		t.Fatalf("%d and %d empty reads", e.calls, e2.calls)
	}
}
