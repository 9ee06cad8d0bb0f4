package pb

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// credAvatar is the Go avatar the cred tests log in to.
type credAvatar struct {
	rpc.Referenceable
	name string
	mind *rpc.Ref
}

func (a *credAvatar) RemoteWhoami() string { return a.name }

func (a *credAvatar) RemoteEcho(x any) any { return x }

func (a *credAvatar) RemoteGreetMind(ctx context.Context) (string, error) {
	if a.mind == nil {
		return "", rpc.Expected(errors.New("no mind"))
	}
	var s string
	err := a.mind.Call(ctx, "hello", &s, a.name)
	return s, err
}

// credMind is the Go client's mind.
type credMind struct{ rpc.Referenceable }

func (credMind) RemoteHello(name string) string { return "mind greets " + name }

// credPortal is a Portal with the user alice (password "secret"); each
// logout is sent on logouts.
func credPortal(logouts chan string) any {
	check := func(ctx context.Context, user string) ([md5.Size]byte, error) {
		if user != "alice" {
			return [md5.Size]byte{}, fmt.Errorf("%w: no user %q", ErrUnauthorizedLogin, user)
		}
		return PasswordDigest("secret"), nil
	}
	realm := func(ctx context.Context, user string, mind *rpc.Ref) (any, func(), error) {
		return &credAvatar{name: user, mind: mind}, func() { logouts <- user }, nil
	}
	return Portal(check, realm)
}

// loginAlice logs in as alice with a Go mind and checks the avatar's
// whoami.
func loginAlice(t *testing.T, ctx context.Context, c *Conn) *rpc.Ref {
	t.Helper()
	avatar, err := Login(ctx, c, "alice", "secret", &credMind{})
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := avatar.Call(ctx, "whoami", &s); err != nil || s != "alice" {
		t.Errorf("whoami: %q, %v", s, err)
	}
	return avatar
}

// Go to Go: the right password gets the avatar (whose calls and mind
// work), a wrong one or an unknown user is refused with
// ErrUnauthorizedLogin, a challenge takes one response, and logout runs
// when the connection ends, not before.
func TestCredGo(t *testing.T) {
	logouts := make(chan string, 4)
	_, port := serveGo(t, credPortal(logouts))
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct{ user, password string }{{"alice", "wrong"}, {"bob", "secret"}, {"alice", ""}} {
		if _, err := Login(ctx, c, tc.user, tc.password, nil); !errors.Is(err, ErrUnauthorizedLogin) {
			t.Errorf("Login(%q, %q): %v, want ErrUnauthorizedLogin", tc.user, tc.password, err)
		}
	}
	avatar := loginAlice(t, ctx, c)
	var s string
	if err := avatar.Call(ctx, "greetMind", &s); err != nil || s != "mind greets alice" {
		t.Errorf("greetMind: %q, %v", s, err)
	}

	// One response per challenge: the challenger refuses a second one, the
	// right one included.
	var got Tuple
	if err := c.Root().Call(ctx, "login", &got, []byte("alice")); err != nil || len(got) != 2 {
		t.Fatalf("login: %v, %v", got, err)
	}
	challenge, ch := got[0].([]byte), got[1].(*rpc.Ref)
	if len(challenge) != 16 {
		t.Errorf("challenge of %d bytes, want 16", len(challenge))
	}
	if err := ch.Call(ctx, "respond", nil, []byte("not the response"), nil); !errors.Is(loginError(err), ErrUnauthorizedLogin) {
		t.Errorf("a wrong response: %v", err)
	}
	d := PasswordDigest("secret")
	right := md5.Sum(append(d[:], challenge...))
	if err := ch.Call(ctx, "respond", nil, right[:], nil); !errors.Is(loginError(err), ErrUnauthorizedLogin) {
		t.Errorf("a second response to one challenge: %v, want ErrUnauthorizedLogin", err)
	}
	if err := ch.Call(ctx, "respond", nil, right[:], 12); err == nil {
		t.Error("respond with a mind that is not a reference succeeded")
	}

	select {
	case u := <-logouts:
		t.Fatalf("logout of %s while connected", u)
	default:
	}
	c.Close()
	select {
	case u := <-logouts:
		if u != "alice" {
			t.Errorf("logout of %q", u)
		}
	case <-ctx.Done():
		t.Fatal("no logout after the connection ended")
	}
	testutil.Eventually(t, "no second logout", func() bool { return len(logouts) == 0 })
}

// A realm's avatar that is not passed by reference fails the login (and
// its logout runs); a checker's own error fails it with that error.
func TestCredRealmErrors(t *testing.T) {
	logouts := make(chan string, 2)
	broken := errors.New("checker down")
	p := Portal(func(ctx context.Context, user string) ([md5.Size]byte, error) {
		if user == "down" {
			return [md5.Size]byte{}, rpc.Expected(broken)
		}
		return PasswordDigest(""), nil
	}, func(ctx context.Context, user string, _ *rpc.Ref) (any, func(), error) {
		return struct{ Name string }{user}, func() { logouts <- user }, nil
	})
	_, port := serveGo(t, p)
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Login(ctx, c, "carol", "", nil); err == nil || errors.Is(err, ErrUnauthorizedLogin) {
		t.Errorf("Login with a copied avatar: %v, want a failure", err)
	}
	if u := <-logouts; u != "carol" {
		t.Errorf("logout of %q", u)
	}
	if _, err := Login(ctx, c, "down", "", nil); err == nil || !strings.Contains(err.Error(), "checker down") {
		t.Errorf("Login with the checker down: %v", err)
	}
}

// Twisted's own client logs in to a Go Portal: refused with a wrong
// password (Failure.check(UnauthorizedLogin)), and with the right one gets
// the avatar, which calls its mind back.
func TestCredTwistedClient(t *testing.T) {
	py := twistedPython(t)
	logouts := make(chan string, 4)
	_, port := serveGo(t, credPortal(logouts))
	p := startPython(t, py, "cred_client.py", "", strconv.Itoa(port))
	for _, want := range []string{
		"wrong password: refused UnauthorizedLogin",
		"whoami alice",
		"echo [1, 'two', b'three']",
		"greetMind mind greets alice",
		"done",
	} {
		p.WaitFor(t, want, func(l string) bool { return l == want })
	}
	if err := p.Wait(t); err != nil {
		t.Errorf("cred_client.py: %v", err)
	}
	if u := <-logouts; u != "alice" {
		t.Errorf("logout of %q", u)
	}
}

// The Go client logs in to Twisted's own portal (PBServerFactory(portal)):
// a wrong password is ErrUnauthorizedLogin, the right one gets the avatar,
// whose perspective_ methods answer and call the Go mind back; the
// avatar logs out when the connection ends.
func TestCredTwistedServer(t *testing.T) {
	py := twistedPython(t)
	p := startPython(t, py, "cred_server.py", "", "0")
	line := p.WaitFor(t, "the server to listen", func(l string) bool { return strings.HasPrefix(l, "listening ") })
	ctx := testContext(t)
	c, err := Dial(ctx, "tcp", "127.0.0.1:"+strings.TrimPrefix(line, "listening "))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := Login(ctx, c, "alice", "wrong", nil); !errors.Is(err, ErrUnauthorizedLogin) {
		t.Errorf("Login with a wrong password: %v, want ErrUnauthorizedLogin", err)
	}
	if _, err := Login(ctx, c, "nobody", "secret", nil); !errors.Is(err, ErrUnauthorizedLogin) {
		t.Errorf("Login as an unknown user: %v, want ErrUnauthorizedLogin", err)
	}
	avatar := loginAlice(t, ctx, c)
	var s string
	var echoed []any
	if err := avatar.Call(ctx, "echo", &echoed, []any{int64(1), "two"}); err != nil || len(echoed) != 2 || echoed[1] != "two" {
		t.Errorf("echo: %v, %v", echoed, err)
	}
	if err := avatar.Call(ctx, "greetMind", &s); err != nil || s != "mind greets alice" {
		t.Errorf("greetMind: %q, %v", s, err)
	}
	c.Close()
	p.WaitFor(t, "the logout", func(l string) bool { return l == "logout alice" })
}
