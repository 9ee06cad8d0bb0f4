package pb

import (
	"context"
	"crypto/md5"
	crand "crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/fireflyrpc/firefly/rpc"
)

// ErrUnauthorizedLogin reports a refused login: an unknown user, a wrong
// password, a challenge answered twice (Twisted's
// twisted.cred.error.UnauthorizedLogin, which it matches both ways).
var ErrUnauthorizedLogin = errors.New("pb: unauthorized login")

// ErrBadLogin reports a login answer that is not what a Twisted portal
// sends (login must answer a (challenge, challenger) tuple).
var ErrBadLogin = errors.New("pb: malformed login answer")

// Python classes of a refused login.
const (
	pyUnauthorizedLogin = "twisted.cred.error.UnauthorizedLogin"
	pyLoginFailed       = "twisted.cred.error.LoginFailed"
)

// challengeSize is the size of a login challenge, as Twisted's (an MD5
// digest).
const challengeSize = md5.Size

// PasswordDigest returns the MD5 digest of password: what a Checker
// returns, so that it need not keep the password itself.
func PasswordDigest(password string) [md5.Size]byte { return md5.Sum([]byte(password)) }

// A Checker returns the MD5 digest of the password of username
// (PasswordDigest), or an error matching ErrUnauthorizedLogin for a user it
// does not know. Any other error fails the login with that error.
type Checker func(ctx context.Context, username string) ([md5.Size]byte, error)

// A Realm returns the avatar of username, who has just logged in: a value
// passed by reference (a pointer to a type that embeds rpc.Referenceable),
// whose RemoteXxx methods answer the client's calls on it (Twisted's
// perspective_xxx). mind is the client's mind (PBClientFactory.login's
// client), or nil when it sent None. logout, if not nil, runs once, in its
// own goroutine, when the connection ends.
type Realm func(ctx context.Context, username string, mind *rpc.Ref) (avatar any, logout func(), err error)

// Portal returns a root object that logs clients in with Twisted cred's
// MD5 challenge, as PBServerFactory(portal) does, so that a Python
// PBClientFactory.login(UsernamePassword(user, password), client=mind)
// gets its avatar from realm. Serve it with NewServer:
//
//	srv, _ := pb.NewServer(pb.Portal(check, realm))
//
// login(username) answers a fresh challenge of 16 bytes from crypto/rand
// and a challenger; the challenger's respond(response, mind) checks
// response against md5(md5(password) + challenge) and answers the avatar.
// A challenger takes one response: a second one fails with
// ErrUnauthorizedLogin. A refused login reaches the client as Twisted's
// UnauthorizedLogin. Anonymous login (loginAnonymous) is not offered.
func Portal(check Checker, realm Realm) any { return &portal{check: check, realm: realm} }

type portal struct {
	check Checker
	realm Realm
}

// RemoteLogin is _PortalWrapper.remote_login: it answers (challenge,
// challenger).
func (p *portal) RemoteLogin(username any) (Tuple, error) {
	name, ok := text(username)
	if !ok {
		return nil, rpc.Expected(fmt.Errorf("%w: login takes a username, bytes or str, not %T", rpc.ErrBadArguments, username))
	}
	challenge := make([]byte, challengeSize)
	crand.Read(challenge)
	return Tuple{challenge, &challenger{p: p, name: name, challenge: challenge}}, nil
}

// text returns a username that came as bytes (a Python 3 client's) or str.
func text(v any) (string, bool) {
	switch s := v.(type) {
	case []byte:
		return string(s), true
	case string:
		return s, true
	}
	return "", false
}

// challenger is _PortalAuthChallenger: it checks one response to its
// challenge.
type challenger struct {
	rpc.Referenceable
	p         *portal
	name      string
	challenge []byte

	mu   sync.Mutex
	used bool
}

// RemoteRespond is _PortalAuthChallenger.remote_respond: it answers the
// avatar of a user whose response is right.
func (c *challenger) RemoteRespond(ctx context.Context, response []byte, mind any) (any, error) {
	c.mu.Lock()
	used := c.used
	c.used = true
	c.mu.Unlock()
	if used {
		return nil, unauthorized("the challenge was answered already")
	}
	var ref *rpc.Ref
	switch m := mind.(type) {
	case nil:
	case *rpc.Ref:
		ref = m
	default:
		return nil, rpc.Expected(fmt.Errorf("%w: respond's mind must be a reference or None, not %T", rpc.ErrBadArguments, mind))
	}
	digest, err := c.p.check(ctx, c.name)
	if errors.Is(err, ErrUnauthorizedLogin) {
		return nil, unauthorized("")
	}
	if err != nil {
		return nil, err
	}
	want := md5.Sum(append(digest[:], c.challenge...))
	if subtle.ConstantTimeCompare(want[:], response) != 1 {
		return nil, unauthorized("")
	}
	avatar, logout, err := c.p.realm(ctx, c.name, ref)
	if err != nil {
		if logout != nil {
			logout()
		}
		return nil, err
	}
	if avatar == nil || !rpc.PassedByReference(reflect.TypeOf(avatar)) {
		if logout != nil {
			logout()
		}
		return nil, fmt.Errorf("pb: the realm's avatar %T is not passed by reference (embed rpc.Referenceable)", avatar)
	}
	if logout != nil {
		// A handler's context ends with its connection.
		context.AfterFunc(ctx, logout)
	}
	return avatar, nil
}

// unauthorized is the failure of a refused login, as Twisted sends it.
func unauthorized(why string) error {
	return rpc.Expected(newRemoteError(pyUnauthorizedLogin, why, "",
		append([]string{pyUnauthorizedLogin, pyLoginFailed}, pyBase...)))
}

// Login logs in to a Twisted cred portal served on c (PBServerFactory(portal),
// or a Go Portal), as PBClientFactory.login(UsernamePassword(username,
// password), client=mind) does, and returns the avatar: calls of method on
// it run the avatar's perspective_method. mind (nil for None) is handed to
// the realm; a value passed by reference goes as a reference the avatar can
// call. A refused login is an error matching ErrUnauthorizedLogin.
func Login(ctx context.Context, c *Conn, username, password string, mind any) (*rpc.Ref, error) {
	var got Tuple
	if err := c.Root().Call(ctx, "login", &got, []byte(username)); err != nil {
		return nil, loginError(err)
	}
	if len(got) != 2 {
		return nil, fmt.Errorf("%w: %d items, want (challenge, challenger)", ErrBadLogin, len(got))
	}
	challenge, ok := got[0].([]byte)
	ch, isRef := got[1].(*rpc.Ref)
	if !ok || !isRef {
		if isRef {
			ch.Release()
		}
		return nil, fmt.Errorf("%w: (%T, %T), want (bytes, a reference)", ErrBadLogin, got[0], got[1])
	}
	defer ch.Release()
	digest := PasswordDigest(password)
	response := md5.Sum(append(digest[:], challenge...))
	var avatar *rpc.Ref
	if err := ch.Call(ctx, "respond", &avatar, response[:], mind); err != nil {
		return nil, loginError(err)
	}
	if avatar == nil {
		return nil, fmt.Errorf("%w: respond answered None, want the avatar", ErrBadLogin)
	}
	return avatar, nil
}

// loginError makes a refused login match ErrUnauthorizedLogin.
func loginError(err error) error {
	var re *RemoteError
	if errors.As(err, &re) && re.Check(pyUnauthorizedLogin) != "" {
		return fmt.Errorf("%w: %w", ErrUnauthorizedLogin, err)
	}
	return err
}
