package pb

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
)

// TestQueueUnsendable checks that a command that fails to encode leaves the
// writer's queue exactly as it was, with the commands queued before it.
func TestQueueUnsendable(t *testing.T) {
	o, err := newOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	defer b.Close()
	c := newConn(a, o, nil, true)
	defer c.shutdown(errClosed)
	ctx := context.Background()
	if err := c.sendAnswer(ctx, "answer", 1, int64(7), false); err != nil {
		t.Fatal(err)
	}
	want, _ := appendBanana(nil, []any{[]byte("answer"), int64(1), int64(7)}, false)
	if !bytes.Equal(c.wq, want) {
		t.Fatalf("queued %x, want %x", c.wq, want)
	}
	big := make([]byte, bananaSizeLimit+1)
	if err := c.sendAnswer(ctx, "answer", 2, []any{[]byte("x"), big}, false); !errors.Is(err, ErrUnsendable) {
		t.Fatalf("sendAnswer with an oversized string: %v, want ErrUnsendable", err)
	}
	if err := c.sendMessage(ctx, 3, &remoteRef{c: c, id: 4}, "m", 1, callArgs{args: []any{[]byte("tuple"), big}, kw: []any{[]byte("dictionary")}}); !errors.Is(err, ErrUnsendable) {
		t.Fatalf("sendMessage with an oversized string: %v, want ErrUnsendable", err)
	}
	if err := c.sendMessage(ctx, 3, &remoteRef{c: c, id: 4}, "m", 1, callArgs{scalars: []any{big}}); !errors.Is(err, ErrUnsendable) {
		t.Fatalf("sendMessage with an oversized scalar: %v, want ErrUnsendable", err)
	}
	if !bytes.Equal(c.wq, want) {
		t.Fatalf("after the failures the queue holds %x, want %x", c.wq, want)
	}
	if err := c.sendMessage(ctx, 3, &remoteRef{c: c, root: true}, "add", 1, callArgs{scalars: []any{int64(1)}}); err != nil {
		t.Fatal(err)
	}
	want, _ = appendBanana(want, []any{[]byte("message"), int64(3), []byte("root"), []byte("add"), int64(1), []any{[]byte("tuple"), int64(1)}, []any{[]byte("dictionary")}}, false)
	if !bytes.Equal(c.wq, want) {
		t.Fatalf("queued %x, want %x", c.wq, want)
	}
}
