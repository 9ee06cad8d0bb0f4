package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/internal/testutil"
	"github.com/fireflyrpc/firefly/rpc"
)

// errRoot's fail returns the error of the given kind.
type errRoot struct{}

func (errRoot) RemoteFail(kind string) error {
	switch kind {
	case "wrapped sentinel":
		return fmt.Errorf("lookup player 7: %w", rpc.ErrNoSuchObject)
	case "wrapped type":
		return fmt.Errorf("load: %w", &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist})
	case "plain":
		return errors.New("no luck")
	case "deadline":
		return fmt.Errorf("query: %w", context.DeadlineExceeded)
	case "joined":
		return errors.Join(errors.New("a"), rpc.ErrBadArguments)
	case "expected":
		return rpc.Expected(fmt.Errorf("quota: %w", rpc.ErrOverloaded))
	}
	return nil
}

// TestErrorTypeNames: an ERROR's type names what a caller (or another
// implementation) can use, never a Go internal such as *fmt.wrapError: an
// exported error type in the chain, else the sentinel matched, else "error";
// the sentinels keep matching errors.Is.
func TestErrorTypeNames(t *testing.T) {
	_, conn := pair(t, errRoot{}, nil)
	ctx := testutil.Context(t)
	for _, tc := range []struct {
		kind, typ string
		is        error
	}{
		{"wrapped sentinel", "rpc.ErrNoSuchObject", rpc.ErrNoSuchObject},
		{"wrapped type", "*fs.PathError", nil},
		{"plain", "error", nil},
		{"deadline", "context.DeadlineExceeded", context.DeadlineExceeded},
		{"joined", "rpc.ErrBadArguments", rpc.ErrBadArguments},
		{"expected", "rpc.ErrOverloaded", rpc.ErrOverloaded},
	} {
		err := conn.Root().Call(ctx, "fail", nil, tc.kind)
		var re *rpc.RemoteError
		if !errors.As(err, &re) {
			t.Errorf("%s: %v is not a *RemoteError", tc.kind, err)
			continue
		}
		if re.Type != tc.typ || strings.Contains(re.Type, "wrap") {
			t.Errorf("%s: Type %q, want %q", tc.kind, re.Type, tc.typ)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not match %v", tc.kind, err, tc.is)
		}
	}
}
