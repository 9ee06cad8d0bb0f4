package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReaderRun: a run of Uint and Byte reads reports its first failure
// once, through Err, reads nothing after it, and the next run starts clean.
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
	if err := m.Err(); !errors.Is(err, io.ErrUnexpectedEOF) || c != 0 || d != 0 {
		t.Fatalf("after the end: Uint, Byte = %d, %d, %v; want 0, 0, io.ErrUnexpectedEOF", c, d, err)
	}
	if err := m.Err(); err != nil {
		t.Fatalf("Err after Err = %v, want nil", err)
	}
	if _, err := m.ReadByte(); err != io.EOF {
		t.Fatalf("ReadByte at the end = %v, want io.EOF", err)
	}

	// A failure stops the run: the bytes after it stay unread. Ten bytes
	// of 0xff overflow a uint64.
	msg = append(bytes.Repeat([]byte{0xff}, 10), 9)
	m.Reset(bytes.NewReader(msg), len(msg))
	m.Uint()
	if b := m.Byte(); b != 0 || m.Len() != 1 {
		t.Fatalf("Byte after a failed Uint = %d with %d bytes left, want 0 with 1 left", b, m.Len())
	}
	if m.Err() == nil {
		t.Fatal("an overflowing varint read without error")
	}
	m.Reset(bytes.NewReader([]byte{5}), 1)
	if b, err := m.Byte(), m.Err(); b != 5 || err != nil {
		t.Fatalf("after Reset: Byte = %d, %v; want 5, nil", b, err)
	}
}
