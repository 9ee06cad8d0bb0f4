package rpc

import (
	"github.com/fireflyrpc/firefly/internal/broker"
)

// importTable holds the references a connection's peer has passed to it,
// each counting the transmissions received; an unreachable *Ref is
// collected and its cleanup releases the count (a backstop: Release is the
// way to release).
type importTable = broker.Imports[uint64, Ref]

// importRef records one received transmission of the peer's object id and
// returns its *Ref: the same *Ref for as long as it is alive and unreleased.
func (c *Conn) importRef(id uint64) *Ref {
	return c.imports.Ref(id, func(e *broker.Import[Ref]) *Ref {
		r := &Ref{conn: c, id: id, entry: e}
		if e == nil { // connection gone: a dead reference
			r.released.Store(true)
		}
		return r
	})
}
