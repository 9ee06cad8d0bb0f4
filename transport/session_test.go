package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestEcho(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	go echoStreams(ctx, s, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := c.Open(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer st.Close()
			if st.ID()%2 != 1 {
				t.Errorf("client stream id %d is even", st.ID())
			}
			// Sizes around frame and window boundaries.
			msg := make([]byte, []int{0, 1, 100, 2038, 2039, 16384, 16385, 5 << 20}[i])
			for j := range msg {
				msg[j] = byte(rand.IntN(256))
			}
			go func() {
				st.Write(msg)
				st.CloseWrite()
			}()
			got, err := io.ReadAll(st)
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, msg) {
				t.Errorf("stream %d: echo of %d bytes differs (got %d bytes)", st.ID(), len(msg), len(got))
			}
		}()
	}
	wg.Wait()
}

func TestManySmallWrites(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	a, b := openAccept(t, c, s, "x")
	var want bytes.Buffer
	go func() {
		for i := range 20000 {
			msg := fmt.Appendf(nil, "message %d;", i)
			if _, err := a.Write(msg); err != nil {
				t.Error(err)
				return
			}
		}
		a.CloseWrite()
	}()
	for i := range 20000 {
		fmt.Fprintf(&want, "message %d;", i)
	}
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %d bytes, want %d", len(got), want.Len())
	}
}

func TestBothSidesOpen(t *testing.T) {
	c, s := sessionPair(t, nil, nil)
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for _, pair := range [][2]*Session{{c, s}, {s, c}} {
		opener, acceptor := pair[0], pair[1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 20 {
				st, err := opener.Open(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if got, want := st.ID()%2 == 1, opener == c; got != want {
					t.Errorf("stream id %d has the wrong parity", st.ID())
				}
				fmt.Fprintf(st, "%d", i)
				st.CloseWrite()
				reply, err := io.ReadAll(st)
				if err != nil || string(reply) != fmt.Sprintf("re:%d", i) {
					t.Errorf("reply %q, %v", reply, err)
				}
				st.Close()
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				st, err := acceptor.Accept(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				msg, err := io.ReadAll(st)
				if err != nil {
					t.Error(err)
				}
				fmt.Fprintf(st, "re:%s", msg)
				st.Close()
			}
		}()
	}
	wg.Wait()
	if errors.Is(c.Err(), ErrConnectionLost) || s.Err() != nil {
		t.Fatal(c.Err(), s.Err())
	}
}
