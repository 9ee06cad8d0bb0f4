package transport

import (
	"bytes"
	"io"
	"testing"
)

// TestReadBufferFollowsTraffic: the reader's buffer grows while a bulk
// transfer comes in, and shrinks back to its floor after a run of small
// exchanges; the data is intact throughout.
func TestReadBufferFollowsTraffic(t *testing.T) {
	client, server := sessionPair(t, nil, nil)
	cs, ss := openAccept(t, client, server, "hi")
	floor := int64(readBufferFloor())
	size := func() int64 {
		if n := server.rb.size.Load(); n != 0 {
			return n
		}
		return floor // not resized yet
	}

	bulk := make([]byte, 16<<20)
	for i := range bulk {
		bulk[i] = byte(i * 31)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := cs.Write(bulk)
		errc <- err
	}()
	got := make([]byte, len(bulk))
	if _, err := io.ReadFull(ss, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bulk) {
		t.Fatal("bulk data changed on the way")
	}
	grown := size()
	if grown <= floor {
		t.Fatalf("read buffer %d bytes after a 16 MiB transfer, want more than the floor %d", grown, floor)
	}
	if grown > readBufferMax {
		t.Fatalf("read buffer %d bytes, over the maximum %d", grown, readBufferMax)
	}

	// Ping-pong small messages: each is a light round for the server.
	buf := make([]byte, 8)
	for i := 0; i < 8*shrinkAfter && size() > floor; i++ {
		if _, err := cs.Write([]byte("ping1234")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(ss, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != "ping1234" {
			t.Fatalf("read %q", buf)
		}
		if _, err := ss.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(cs, buf); err != nil {
			t.Fatal(err)
		}
	}
	if n := size(); n != floor {
		t.Fatalf("read buffer %d bytes after %d small exchanges, want the floor %d (grown to %d)", n, 8*shrinkAfter, floor, grown)
	}
}

// TestFramesLargerThanReadBuffer: the reader's smallest buffer is smaller
// than a frame; a stream's large frames and a late frame for a finished
// stream pass through it.
func TestFramesLargerThanReadBuffer(t *testing.T) {
	if readBufferFloor() >= DefaultMaxFrameSize {
		t.Fatalf("floor %d, not below a frame of %d", readBufferFloor(), DefaultMaxFrameSize)
	}
	s, p := newRawClient(t, nil)
	big := bytes.Repeat([]byte("b"), DefaultMaxFrameSize)
	p.write(typeData, flagSYN, 1, big)
	st, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(big))
	if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	st.Reset()
	p.write(typeData, 0, 1, big) // late: skipped
	p.write(typeData, flagSYN, 3, []byte("y"))
	st3, err := s.Accept(testCtx(t))
	if err != nil || st3.ID() != 3 {
		t.Fatalf("accept after the late frame: %v", err)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}
