package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// byteReader reads a message as a Reader does, but takes every byte from
// its source through io.ByteReader: the reference a Reader's results and
// failures are checked against.
type byteReader struct {
	r   ByteSource
	n   int
	err error
}

func (m *byteReader) Read(p []byte) (int, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	if len(p) > m.n {
		p = p[:m.n]
	}
	k, err := m.r.Read(p)
	m.n -= k
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (m *byteReader) ReadByte() (byte, error) {
	if m.n <= 0 {
		return 0, io.EOF
	}
	b, err := m.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	m.n--
	return b, nil
}

func (m *byteReader) Uvarint() (uint64, error) {
	v, err := binary.ReadUvarint(m)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return v, err
}

func (m *byteReader) Uint() uint64 {
	v, err := binary.ReadUvarint(m)
	if m.err == nil {
		m.err = err
	}
	return v
}

func (m *byteReader) Byte() byte {
	b, err := m.ReadByte()
	if m.err == nil {
		m.err = err
	}
	return b
}

func (m *byteReader) Err() error {
	err := m.err
	m.err = nil
	return err
}

func (m *byteReader) Bytes(scratch []byte, max int) ([]byte, error) {
	n, err := m.Uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(max) || n > uint64(m.n) {
		return nil, Errorf("string of %d bytes does not fit the message", n)
	}
	if cap(scratch) < int(n) {
		scratch = make([]byte, n)
	}
	scratch = scratch[:n]
	if _, err := io.ReadFull(m, scratch); err != nil {
		return nil, err
	}
	return scratch, nil
}

var errSource = errors.New("source failed")

// source is a ByteSource over data whose Read hands out all it is asked
// for, and with the last bytes errSource (afterwards errSource alone);
// ReadByte hands out one byte at a time, then errSource.
type source struct{ data []byte }

func (s *source) Read(p []byte) (int, error) {
	k := copy(p, s.data)
	s.data = s.data[k:]
	if len(s.data) == 0 {
		return k, errSource
	}
	return k, nil
}

func (s *source) ReadByte() (byte, error) {
	if len(s.data) == 0 {
		return 0, errSource
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b, nil
}

// sourceModes is the number of ways runOps has a Reader take a message:
// from the five sources of sources, or in memory (modeInMemory).
const sourceModes = 6

// modeInMemory is the mode in which runOps has a Reader read the message in
// place, with ResetBytes; its reference reads it from a bytes.Reader.
const modeInMemory = 5

// sources returns a fresh source of data of the given mode and, for a
// source that does not read ahead of its user, how many of data's bytes it
// has not handed out yet.
func sources(mode byte, data []byte) (ByteSource, func() int) {
	data = bytes.Clone(data)
	switch mode % sourceModes {
	case 1: // a byte at a time, as a stream may hand them out
		br := bytes.NewReader(data)
		return bufio.NewReaderSize(iotest.OneByteReader(br), 16), nil
	case 2: // the end of the data is an error of the source
		br := bytes.NewReader(data)
		return bufio.NewReaderSize(io.MultiReader(iotest.HalfReader(br), iotest.ErrReader(errSource)), 16), nil
	case 3: // the error comes with the last bytes
		s := &source{data}
		return s, func() int { return len(s.data) }
	case 4: // EOF comes with the last bytes
		br := bytes.NewReader(data)
		return bufio.NewReaderSize(iotest.DataErrReader(br), 16), nil
	}
	br := bytes.NewReader(data)
	return br, func() int { return br.Len() }
}

// runOps has m and the reference ref read the same message by the same
// script of reads, and reports the first difference in what they read,
// how they fail or what they leave. Both must read no further than the
// message's end. In modeInMemory the message is data[:n] (all of data if
// shorter), which m must read in place, writing neither it nor its window.
func runOps(t *testing.T, data, script []byte, n int, mode byte) {
	t.Helper()
	var m Reader
	var src ByteSource
	var left func() int
	var msg []byte // the message m reads in place
	// m last read a message that ends inside a varint, from a source that
	// fails with its last byte (the failure still pending) or in memory,
	// and left the failure of its run of reads unchecked.
	if mode%sourceModes == modeInMemory {
		m.Reset(&source{[]byte{0x81}}, 1)
		m.Uint()
		if m.serr == nil || m.err == nil {
			t.Fatal("the message before left no failures pending")
		}
		data = data[:min(n, len(data))]
		n = len(data)
		msg = bytes.Clone(data)
	} else {
		m.ResetBytes([]byte{0x81})
		m.Uint()
		if m.err == nil {
			t.Fatal("the message before left no failure pending")
		}
		src, left = sources(mode, data)
	}
	win := m.win
	refSrc, _ := sources(mode, data)
	if msg != nil {
		m.ResetBytes(msg)
	} else {
		m.Reset(src, n)
	}
	ref := byteReader{r: refSrc, n: n}
	es := func(err error) string {
		if err == nil {
			return "<nil>"
		}
		return err.Error()
	}
	for i := 0; i < len(script); i++ {
		op := script[i]
		arg := 0
		if i+1 < len(script) {
			arg = int(script[i+1])
		}
		var got, want string
		switch op % 7 {
		case 0:
			b, err := m.ReadByte()
			rb, rerr := ref.ReadByte()
			got, want = fmt.Sprint("ReadByte ", b, es(err)), fmt.Sprint("ReadByte ", rb, es(rerr))
		case 1:
			v, err := m.Uvarint()
			rv, rerr := ref.Uvarint()
			if err != nil { // the value is meaningless
				v, rv = 0, 0
			}
			got, want = fmt.Sprint("Uvarint ", v, es(err)), fmt.Sprint("Uvarint ", rv, es(rerr))
		case 2:
			v, err := m.Varint()
			rv, rerr := binary.ReadVarint(&ref)
			rerr = eof(rerr)
			err = eof(err)
			if err != nil {
				v, rv = 0, 0
			}
			got, want = fmt.Sprint("Varint ", v, es(err)), fmt.Sprint("Varint ", rv, es(rerr))
		case 3:
			a, b, c := m.Uint(), m.Byte(), m.Uint()
			err := m.Err()
			ra, rb, rc := ref.Uint(), ref.Byte(), ref.Uint()
			rerr := ref.Err()
			if err != nil {
				a, b, c, ra, rb, rc = 0, 0, 0, 0, 0, 0
			}
			got, want = fmt.Sprint("Uint, Byte, Uint ", a, b, c, es(err)), fmt.Sprint("Uint, Byte, Uint ", ra, rb, rc, es(rerr))
		case 4:
			p, err := m.Bytes(nil, arg)
			rp, rerr := ref.Bytes(nil, arg)
			got, want = fmt.Sprintf("Bytes %x %s", p, es(err)), fmt.Sprintf("Bytes %x %s", rp, es(rerr))
			i++
		case 5:
			p, rp := make([]byte, arg%40), make([]byte, arg%40)
			err := m.readFull(p)
			_, rerr := io.ReadFull(&ref, rp)
			if rerr != nil {
				p, rp = p[:0], rp[:0]
			}
			got, want = fmt.Sprintf("readFull %x %s", p, es(err)), fmt.Sprintf("readFull %x %s", rp, es(rerr))
			i++
		case 6:
			// A long read goes to the source; its bytes are checked
			// only when it meets no failure (a short read is allowed).
			p, rp := make([]byte, 300+arg), make([]byte, 300+arg)
			_, err := io.ReadFull(&m, p)
			_, rerr := io.ReadFull(&ref, rp)
			if rerr != nil {
				p, rp = p[:0], rp[:0]
			}
			got, want = fmt.Sprintf("long read %x %s", p, es(err)), fmt.Sprintf("long read %x %s", rp, es(rerr))
			i++
		}
		if got != want {
			t.Fatalf("read %d: got %s, want %s", i, got, want)
		}
		if m.Len() != ref.n {
			t.Fatalf("read %d (%s): Len = %d, want %d", i, got, m.Len(), ref.n)
		}
		if msg != nil {
			if !bytes.Equal(msg, data) {
				t.Fatalf("read %d: the message in memory was written: %x, was %x", i, msg, data)
			}
			if m.win != win {
				t.Fatalf("read %d: the message in memory was taken into the window", i)
			}
		}
		if left == nil {
			continue
		}
		if taken := len(data) - left(); taken > n {
			t.Fatalf("read %d: %d bytes taken from the source, past the message's %d", i, taken, n)
		}
	}
}

// varints returns k varints of growing length, and a script that reads
// them as Uvarint, Varint or a run of Uint and Byte.
func varints(k int) (data, script []byte) {
	v := uint64(1)
	for i := range k {
		data = binary.AppendUvarint(data, v)
		script = append(script, []byte{1, 2}[i%2])
		v = v*3 + 1
		if v > 1<<62 {
			v = 1
		}
	}
	return data, script
}

// TestReaderAsByteReader: a Reader reads what the byte-at-a-time reference
// reads and fails as it does — at the message's end, at the source's end or
// failure, on an overflowing varint, on a string too long — whatever the
// window holds at the time, and never takes bytes past the message's end.
func TestReaderAsByteReader(t *testing.T) {
	long, longScript := varints(400) // past the window, varints straddling its refills
	over := append(bytes.Repeat([]byte{0xff}, 9), 0x02, 7)
	over11 := append(bytes.Repeat([]byte{0x80}, 11), 1)
	str := AppendString(AppendString(nil, "method"), string(bytes.Repeat([]byte{'x'}, 500)))
	cases := []struct {
		data, script []byte
		n            int
	}{
		{long, longScript, len(long)},
		{long, longScript, len(long) - 1},     // the message ends inside the last varint
		{long, longScript, len(long) + 5},     // the source ends before the message
		{long[:300], longScript, len(long)},   // the source ends inside a varint
		{long, []byte{6, 0, 1, 1, 2, 0}, 250}, // a long read
		{over, []byte{1, 0, 0}, len(over)},
		{over, []byte{3, 0}, len(over)},
		{over11, []byte{1, 0, 1}, len(over11)},
		{over11, []byte{2, 0, 1}, len(over11)},
		{append(bytes.Repeat([]byte{0xff}, 9), 0x01), []byte{1}, 10}, // the largest uint64
		{[]byte{0x80, 0x80}, []byte{1}, 2},
		{[]byte{0x80, 0x80}, []byte{1}, 5},
		{[]byte{0x80}, []byte{3}, 1},
		{str, []byte{4, 10, 4, 255, 4, 255}, len(str)},
		{str, []byte{4, 10, 5, 200, 6, 255}, len(str) + 1},
		{str, []byte{4, 10, 4, 255}, len(str) - 1},
		{str, []byte{4, 3}, len(str)},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{5, 8, 0}, 8},
		{[]byte{1, 2, 3}, []byte{5, 8}, 3},
		{[]byte{1, 2, 3}, []byte{5, 8}, 8},
		{nil, []byte{0, 1, 2, 3, 4, 0, 5, 1, 6, 0}, 0},
		{nil, []byte{0, 1, 2, 3, 4, 0, 5, 1, 6, 0}, 4},
	}
	for i, c := range cases {
		for mode := range byte(sourceModes) {
			t.Run(fmt.Sprintf("%d/mode%d", i, mode), func(t *testing.T) {
				runOps(t, c.data, c.script, c.n, mode)
			})
		}
	}
}

// FuzzReaderAsByteReader: TestReaderAsByteReader for any message and reads.
func FuzzReaderAsByteReader(f *testing.F) {
	long, longScript := varints(300)
	f.Add(long, longScript, uint16(len(long)), byte(0))
	f.Add(long, longScript, uint16(len(long)-1), byte(1))
	f.Add(long[:280], longScript, uint16(len(long)), byte(2))
	f.Add(long, append([]byte{6, 7}, longScript...), uint16(len(long)), byte(3))
	f.Add(bytes.Repeat([]byte{0xff}, 12), []byte{1, 0, 3}, uint16(12), byte(4))
	f.Add(AppendString(nil, "add"), []byte{4, 255, 0}, uint16(4), byte(0))
	f.Add(long, longScript, uint16(len(long)), byte(modeInMemory))
	f.Add(long, append([]byte{6, 7}, longScript...), uint16(len(long)-1), byte(modeInMemory))
	f.Add(bytes.Repeat([]byte{0xff}, 12), []byte{1, 0, 3}, uint16(12), byte(modeInMemory))
	f.Fuzz(func(t *testing.T, data, script []byte, n uint16, mode byte) {
		runOps(t, data, script, int(n)%(len(data)+8), mode)
	})
}

// countingSource counts the calls a Reader makes to its source.
type countingSource struct {
	bytes.Reader
	reads, byteReads int
}

func (s *countingSource) Read(p []byte) (int, error) {
	s.reads++
	return s.Reader.Read(p)
}

func (s *countingSource) ReadByte() (byte, error) {
	s.byteReads++
	return s.Reader.ReadByte()
}

// callMessage is shaped like the body of a small call: a type byte, an id
// (a sequence number above a 24-bit slot, as a caller numbers its calls),
// flags, a method name, the argument count and a record of two ints.
func callMessage() []byte {
	b := []byte{1}
	b = binary.AppendUvarint(b, 3000<<24|5)
	b = append(b, 0)
	b = AppendString(b, "add")
	b = append(b, 1, KindScalar, ScalarRecord, 2)
	b = AppendString(b, "A")
	b = binary.AppendVarint(append(b, scalarInt), 2999)
	b = AppendString(b, "B")
	b = binary.AppendVarint(append(b, scalarInt), 1)
	return b
}

// readCall reads callMessage's fields from r.
func readCall(r interface {
	ReadByte() (byte, error)
	Uvarint() (uint64, error)
	Bytes([]byte, int) ([]byte, error)
}, varint func() (int64, error), scratch []byte) (sum int64, err error) {
	if _, err = r.ReadByte(); err != nil {
		return 0, err
	}
	if _, err = r.Uvarint(); err != nil {
		return 0, err
	}
	if _, err = r.ReadByte(); err != nil {
		return 0, err
	}
	if _, err = r.Bytes(scratch, MaxNameLen); err != nil {
		return 0, err
	}
	for range 3 {
		if _, err = r.ReadByte(); err != nil {
			return 0, err
		}
	}
	if _, err = r.Uvarint(); err != nil {
		return 0, err
	}
	for range 2 {
		if _, err = r.Bytes(scratch, MaxNameLen); err != nil {
			return 0, err
		}
		if _, err = r.ReadByte(); err != nil {
			return 0, err
		}
		v, err := varint()
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// TestReaderInPlace: a small message is taken from the source in one read
// and its bytes and varints are then read in place, none through the
// source's ReadByte.
func TestReaderInPlace(t *testing.T) {
	msg := callMessage()
	var s countingSource
	s.Reset(msg)
	var m Reader
	m.Reset(&s, len(msg))
	sum, err := readCall(&m, m.Varint, make([]byte, 0, 8))
	if err != nil || sum != 3000 || m.Len() != 0 {
		t.Fatalf("readCall = %d, %v with %d bytes left; want 3000, nil, 0", sum, err, m.Len())
	}
	if s.reads != 1 || s.byteReads != 0 {
		t.Fatalf("source read %d times and byte-read %d times, want 1 and 0", s.reads, s.byteReads)
	}
}

// TestReaderBytesInPlace: a message in memory is read where it is, taken
// into the window neither after a message from a source nor before the
// next one, which is taken from its source as before; reading it allocates
// nothing.
func TestReaderBytesInPlace(t *testing.T) {
	msg := callMessage()
	var s countingSource
	var m Reader
	scratch := make([]byte, 0, 8)
	s.Reset(msg)
	m.Reset(&s, len(msg))
	if _, err := readCall(&m, m.Varint, scratch); err != nil {
		t.Fatal(err)
	}
	win := m.win
	inMemory := bytes.Clone(msg)
	inMemory[len(inMemory)-1] = 4 // B, zig-zag encoded, is 2: the sum is 3001
	m.ResetBytes(inMemory)
	sum, err := readCall(&m, m.Varint, scratch)
	if err != nil || sum != 3001 || m.Len() != 0 {
		t.Fatalf("in memory: readCall = %d, %v with %d bytes left; want 3001, nil, 0", sum, err, m.Len())
	}
	if m.win != win {
		t.Fatal("the message in memory was taken into the window")
	}
	if _, err := m.ReadByte(); err != io.EOF {
		t.Fatalf("ReadByte past the message in memory = %v, want io.EOF", err)
	}
	s.Reset(msg)
	s.reads = 0
	m.Reset(&s, len(msg))
	sum, err = readCall(&m, m.Varint, scratch)
	if err != nil || sum != 3000 || m.Len() != 0 || s.reads != 1 {
		t.Fatalf("after a message in memory: readCall = %d, %v with %d bytes left and %d reads of the source; want 3000, nil, 0, 1", sum, err, m.Len(), s.reads)
	}
	allocs := testing.AllocsPerRun(100, func() {
		m.ResetBytes(inMemory)
		if _, err := readCall(&m, m.Varint, scratch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("reading a message in memory allocates %v times, want 0", allocs)
	}
}

// TestReaderGob: a gob decoder reading values through a Reader, from a
// source or in memory, reads them whole and exactly, leaving the bytes
// after them, and fails alike on a message that ends inside a value.
func TestReaderGob(t *testing.T) {
	type point struct {
		X, Y int
		Name string
		Tags []string
	}
	values := []any{point{1, -2, "p", []string{"a", "b"}}, strings.Repeat("long ", 200), map[string]int{"k": 7}}
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	stream := buf.Bytes()
	msg := append(bytes.Clone(stream), 9) // a byte after the values
	decode := func(m *Reader) ([]any, error) {
		dec := gob.NewDecoder(m)
		got := []any{new(point), new(string), new(map[string]int)}
		for i, p := range got {
			if err := dec.Decode(p); err != nil {
				return nil, err
			}
			got[i] = reflect.ValueOf(p).Elem().Interface()
		}
		return got, nil
	}
	for _, inMemory := range []bool{false, true} {
		var m Reader
		reset := func(b []byte) {
			if inMemory {
				m.ResetBytes(b)
			} else {
				m.Reset(bytes.NewReader(b), len(b))
			}
		}
		reset(msg)
		got, err := decode(&m)
		if err != nil || !reflect.DeepEqual(got, values) {
			t.Fatalf("in memory %v: decoded %v, %v; want %v", inMemory, got, err, values)
		}
		if b, err := m.ReadByte(); b != 9 || err != nil || m.Len() != 0 {
			t.Fatalf("in memory %v: after the values, ReadByte = %d, %v with %d bytes left; want 9, nil, 0", inMemory, b, err, m.Len())
		}
		reset(stream[:len(stream)-3])
		if _, err := decode(&m); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("in memory %v: decoding a cut message: %v, want io.ErrUnexpectedEOF", inMemory, err)
		}
	}
}

// BenchmarkReaderCall reads callMessage with a Reader from a source and in
// memory and, for comparison, a byte at a time through io.ByteReader.
func BenchmarkReaderCall(b *testing.B) {
	msg := callMessage()
	scratch := make([]byte, 0, 8)
	b.Run("window", func(b *testing.B) {
		var src bytes.Reader
		var m Reader
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(msg)
			m.Reset(&src, len(msg))
			if sum, err := readCall(&m, m.Varint, scratch); err != nil || sum != 3000 {
				b.Fatal(sum, err)
			}
		}
	})
	b.Run("inplace", func(b *testing.B) {
		var m Reader
		b.ReportAllocs()
		for b.Loop() {
			m.ResetBytes(msg)
			if sum, err := readCall(&m, m.Varint, scratch); err != nil || sum != 3000 {
				b.Fatal(sum, err)
			}
		}
	})
	b.Run("bytewise", func(b *testing.B) {
		var src bytes.Reader
		var m byteReader
		varint := func() (int64, error) { return binary.ReadVarint(&m) }
		b.ReportAllocs()
		for b.Loop() {
			src.Reset(msg)
			m = byteReader{r: &src, n: len(msg)}
			if sum, err := readCall(&m, varint, scratch); err != nil || sum != 3000 {
				b.Fatal(sum, err)
			}
		}
	})
}
