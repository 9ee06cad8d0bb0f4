package wire

import (
	"encoding/gob"
	"reflect"
	"testing"
)

type announceInner struct{ S string }

type announceOuter struct {
	N int
	A any
	L []any
	M map[string]any
}

type recursivePtr *recursivePtr

// gobMessages splits b into gob messages and returns the type id each
// starts with.
func gobMessages(t *testing.T, b []byte) []int64 {
	t.Helper()
	gobUint := func() uint64 {
		if len(b) == 0 {
			t.Fatal("gob stream ends inside an integer")
		}
		c := b[0]
		b = b[1:]
		if c < 0x80 {
			return uint64(c)
		}
		n := int(-int8(c))
		if n > len(b) {
			t.Fatal("gob stream ends inside an integer")
		}
		var x uint64
		for _, d := range b[:n] {
			x = x<<8 | uint64(d)
		}
		b = b[n:]
		return x
	}
	var ids []int64
	for len(b) > 0 {
		n := gobUint()
		if n > uint64(len(b)) {
			t.Fatalf("gob message of %d bytes, %d left", n, len(b))
		}
		rest := b[n:]
		b = b[:n]
		u := gobUint()
		id := int64(u >> 1)
		if u&1 != 0 {
			id = ^id
		}
		ids = append(ids, id)
		b = rest
	}
	return ids
}

// TestAnnounceTypes checks that a value whose interfaces hold types the
// lane has not described is sent as type descriptions followed by exactly
// one value message, as docs/PROTOCOL.md requires, and that the
// descriptions written ahead of it are descriptions only.
func TestAnnounceTypes(t *testing.T) {
	gob.Register(announceInner{})
	var buf []byte
	l := &Encoder{}
	l.Init(&buf)
	v := announceOuter{N: 1, A: announceInner{S: "a"}, L: []any{&announceInner{S: "b"}, 3}, M: map[string]any{"k": []int{1}}}
	rv := reflect.ValueOf(v)

	l.announceTypes(rv)
	ids := gobMessages(t, buf)
	if len(ids) == 0 {
		t.Fatal("nothing announced")
	}
	for i, id := range ids {
		if id >= 0 {
			t.Fatalf("announced message %d is a value (id %d), want type descriptions only: %v", i, id, ids)
		}
	}
	buf = buf[:0]
	if err := l.encodeRaw(rv); err != nil {
		t.Fatal(err)
	}
	ids = gobMessages(t, buf)
	values := 0
	for _, id := range ids {
		if id >= 0 {
			values++
		} else if values > 0 {
			t.Fatalf("a type description after the value: %v", ids)
		}
	}
	if values != 1 {
		t.Fatalf("%d value messages, want 1: %v", values, ids)
	}

	// Without the announcement, gob splits the value around the
	// description (what the announcement prevents).
	var buf2 []byte
	l2 := &Encoder{}
	l2.Init(&buf2)
	if err := l2.encodeRaw(rv); err != nil {
		t.Fatal(err)
	}
	values = 0
	for _, id := range gobMessages(t, buf2) {
		if id >= 0 {
			values++
		}
	}
	if values < 2 {
		t.Fatalf("gob wrote the value as %d message(s) without the announcement; the test no longer shows what it guards against", values)
	}

	// A recursive pointer type, which gob refuses, is given up on.
	var buf3 []byte
	l3 := &Encoder{}
	l3.Init(&buf3)
	l3.announce(reflect.TypeFor[recursivePtr]())
	if len(buf3) != 0 {
		t.Fatalf("announcing a recursive pointer type wrote %d bytes", len(buf3))
	}
}
