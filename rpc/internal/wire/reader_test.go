package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReaderRun: a run of Uint and Byte reads reports its first failure
// once, through Err, and the next run starts clean.
func TestReaderRun(t *testing.T) {
	msg := []byte{0xac, 0x02, 7, 0x80}
	var m Reader
	m.Reset(bytes.NewReader(msg), len(msg))
	a, b := m.Uint(), m.Byte()
	if err := m.Err(); err != nil || a != 300 || b != 7 {
		t.Fatalf("Uint, Byte = %d, %d, %v; want 300, 7, nil", a, b, err)
	}
	// 0x80 starts a varint the message ends inside.
	c, d := m.Uint(), m.Byte()
	if err := m.Err(); !errors.Is(err, io.ErrUnexpectedEOF) || d != 0 {
		t.Fatalf("inside a cut varint: Uint, Byte = %d, %d, %v; want io.ErrUnexpectedEOF and 0", c, d, err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("Err after Err = %v, want nil", err)
	}
	if _, err := m.ReadByte(); err != io.EOF {
		t.Fatalf("ReadByte at the end = %v, want io.EOF", err)
	}

	// The run reports its first failure, not a later one. Ten bytes of
	// 0xff overflow a uint64; the message then ends.
	msg = bytes.Repeat([]byte{0xff}, 10)
	m.Reset(bytes.NewReader(msg), len(msg))
	m.Uint()
	m.Byte()
	if err := m.Err(); err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Err after an overflowing varint and the message's end = %v, want the overflow", err)
	}
	m.Reset(bytes.NewReader([]byte{5}), 1)
	if b, err := m.Byte(), m.Err(); b != 5 || err != nil {
		t.Fatalf("after Reset: Byte = %d, %v; want 5, nil", b, err)
	}
}
