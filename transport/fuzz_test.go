package transport

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// fuzzConfig has small limits so short inputs reach them.
func fuzzConfig() *Config {
	return &Config{
		MaxFrameSize:     MinFrameSize,
		InitialWindow:    2 * MinWindow,
		MaxStreams:       4,
		AcceptBacklog:    2,
		HandshakeTimeout: 2 * time.Second,
	}
}

// runFuzzSession feeds input to a server session as everything its peer
// ever sends, then closes. The session must end with an error, without
// panicking or hanging, and leave no goroutine behind.
func runFuzzSession(t *testing.T, input []byte) {
	cc, sc := net.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.Discard, cc) }()
	go func() { defer wg.Done(); cc.Write(input); cc.Close() }()
	defer wg.Wait()
	defer cc.Close()

	s, err := Server(context.Background(), sc, fuzzConfig())
	if err != nil {
		return // refused in the handshake
	}
	defer s.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			st, err := s.Accept(context.Background())
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 100)
				for i := 0; ; i++ {
					n, err := st.Read(buf)
					if err != nil {
						break
					}
					st.Write(buf[:n])
					if i == 3 {
						st.Reset()
					}
				}
				st.Close()
			}()
		}
	}()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end after its input")
	}
	if s.Err() == nil {
		t.Fatal("session ended without an error")
	}
}

// fuzzPreface is a valid client preface matching fuzzConfig's expectations.
func fuzzPreface() []byte {
	return appendPreface(nil, roleClient, settings{maxFrame: MinFrameSize, window: MinWindow, maxStreams: 8})
}

// FuzzFrame feeds arbitrary frames after a valid preface.
func FuzzFrame(f *testing.F) {
	f.Add(appendPing(nil, false, 7))
	f.Add(append(appendHeader(nil, typeData, flagSYN|flagFIN, 1, 5), "hello"...))
	f.Fuzz(func(t *testing.T, frames []byte) {
		runFuzzSession(t, append(fuzzPreface(), frames...))
	})
}

// FuzzPreface feeds arbitrary bytes from the first byte on.
func FuzzPreface(f *testing.F) {
	f.Add(fuzzPreface())
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		runFuzzSession(t, input)
	})
}
