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
	floor := int64(readBufferFloor(DefaultMaxFrameSize))
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

func TestReadBufferFloor(t *testing.T) {
	if got := readBufferFloor(16 << 10); got != readBufferMin {
		t.Fatalf("floor for 16 KiB frames = %d, want %d", got, readBufferMin)
	}
	if got, want := readBufferFloor(4<<20), 4<<20+headerLen; got != want {
		t.Fatalf("floor for 4 MiB frames = %d, want %d", got, want)
	}
}
