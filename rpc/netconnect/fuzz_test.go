package netconnect

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzDecode feeds arbitrary bytes to Decode and to a Reader (whole and a
// byte at a time): they agree, never panic, never return a body over the
// maximum, and every packet they return encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	d := Datapack{Head: [4]byte{0, 0, 0, 0}, MaxBody: 1 << 12}
	p1, _ := d.Encode(1001, []byte("game1 alice"))
	p2, _ := d.Encode(0, nil)
	f.Add(append(p1, p2...))
	f.Add(p1[:10])
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var viaDecode []Packet
		rest := in
		var decodeErr error
		for {
			h, body, n, err := d.Decode(rest)
			if err != nil {
				decodeErr = err
				break
			}
			if n == 0 {
				break
			}
			if len(body) > d.maxBody() {
				t.Fatalf("body of %d bytes", len(body))
			}
			enc, err := d.Encode(h.Command, body)
			if err != nil || !bytes.Equal(enc, rest[:n]) {
				t.Fatalf("re-encoding %x: %x, %v", rest[:n], enc, err)
			}
			viaDecode = append(viaDecode, Packet{h.Command, bytes.Clone(body)})
			rest = rest[n:]
		}
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			rd := NewReader(&d, r)
			var got []Packet
			var err error
			for {
				var h Header
				var body []byte
				h, body, err = rd.Read()
				if err != nil {
					break
				}
				got = append(got, Packet{h.Command, body})
			}
			if len(got) != len(viaDecode) {
				t.Fatalf("Reader read %d packets, Decode %d", len(got), len(viaDecode))
			}
			for i := range got {
				if got[i].Command != viaDecode[i].Command || !bytes.Equal(got[i].Body, viaDecode[i].Body) {
					t.Fatalf("packet %d differs", i)
				}
			}
			var he *HeaderError
			if decodeErr != nil && (!errors.As(err, &he) || !errors.Is(err, errors.Unwrap(decodeErr))) {
				t.Fatalf("Decode failed with %v, Reader with %v", decodeErr, err)
			}
			if decodeErr == nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("Reader ended with %v", err)
			}
		}
	})
}
