package auth

import (
	"errors"
	"net"
	"testing"
)

var errLost = errors.New("lost")

// exchange runs both sides over a pipe: the client claims id with secret,
// the server knows known's secret for it.
func exchange(t *testing.T, id string, secret, known []byte) (clientErr error, gotID string, serverErr error) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		gotID, serverErr = Server(s, func(identity string) ([]byte, bool) {
			if identity != "game1" {
				return nil, false
			}
			return known, true
		}, errLost)
		if serverErr != nil {
			s.Close()
		}
	}()
	clientErr = Client(c, id, secret, errLost)
	if clientErr != nil {
		c.Close() // as the dialling side does: the server's read ends
	}
	<-done
	return clientErr, gotID, serverErr
}

func TestExchange(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	if cerr, id, serr := exchange(t, "game1", secret, secret); cerr != nil || serr != nil || id != "game1" {
		t.Fatalf("the right secret: client %v, server %q %v", cerr, id, serr)
	}
	wrong := []byte("fedcba9876543210fedcba9876543210")
	for _, tc := range []struct {
		name, id      string
		secret, known []byte
	}{
		{"wrong secret", "game1", wrong, secret},
		{"unknown identity", "game2", secret, secret},
	} {
		cerr, id, serr := exchange(t, tc.id, tc.secret, tc.known)
		if !errors.Is(cerr, ErrFailed) || !errors.Is(serr, ErrFailed) || id != "" {
			t.Errorf("%s: client %v, server %q %v; want ErrFailed on both sides", tc.name, cerr, id, serr)
		}
	}
}

func TestNotAnExchange(t *testing.T) {
	c, s := net.Pipe()
	go func() {
		c.Write([]byte("\x89FFLY\r\n\x1a\x01\x02"))
		c.Close()
	}()
	_, err := Server(s, func(string) ([]byte, bool) { return nil, false }, errLost)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("a transport preface: %v, want ErrFailed", err)
	}

	// The server reads the hello, then goes away.
	c2, s2 := net.Pipe()
	go func() {
		var hello [64]byte
		s2.Read(hello[:])
		s2.Close()
	}()
	if err := Client(c2, "game1", []byte("x"), errLost); !errors.Is(err, ErrFailed) || !errors.Is(err, errLost) {
		t.Fatalf("a server gone before its challenge: %v, want ErrFailed and lost", err)
	}
}
