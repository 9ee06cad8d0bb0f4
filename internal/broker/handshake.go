package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Bounded runs f, a handshake step that does I/O on conn, within ctx:
// conn's deadline is ctx's, and ctx's cancellation interrupts f. conn's
// deadline is cleared on success. Once ctx has ended, the error matches
// ctx's; a deadline that passed makes it match timeout too, when timeout is
// not nil (a broker's handshake-timeout sentinel).
func Bounded(ctx context.Context, conn net.Conn, timeout error, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	err := f()
	if stop() && err == nil {
		conn.SetDeadline(time.Time{})
		return nil
	}
	// Either f failed, or ctx ended and the deadline may be forced into
	// the past at any moment: the connection is unusable either way.
	if err == nil {
		err = ctx.Err()
	}
	if errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %w", context.Canceled, err)
	}
	if timeout != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded)) {
		if !errors.Is(err, timeout) {
			err = fmt.Errorf("%w: %w", timeout, err)
		}
	}
	return err
}

// Dial connects to addr on network and runs handshake, a broker's dialling
// side, over the connection, which it closes when the handshake fails. ctx
// bounds the dial.
func Dial[C any](ctx context.Context, network, addr string, handshake func(net.Conn) (C, error)) (C, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		var zero C
		return zero, err
	}
	c, err := handshake(nc)
	if err != nil {
		nc.Close()
	}
	return c, err
}
