package rpc

import (
	"fmt"

	"github.com/fireflyrpc/firefly/internal/broker"
)

// rootID is the id of the root object a side offers; it is never counted or
// released.
const rootID = 0

// exportTable holds the local objects a connection has passed to its peer by
// reference, counted per transmission: each send adds one, each release
// from the peer subtracts what the peer received (see internal/broker).
type exportTable = broker.Exports[uint64, *target]

// initExports makes the connection's export table ready for max objects.
func (c *Conn) initExports(max int) {
	c.exports.Init(max, broker.ExportErrors{
		Lost:             ErrConnectionLost,
		NotReferenceable: ErrNotReferenceable,
		Full:             fmt.Errorf("%w (limit %d)", ErrTooManyReferences, max),
	})
}

// export counts one more transmission of v to the peer and returns its id.
func (c *Conn) export(v any) (uint64, error) {
	return c.exports.Add(v, func(v any) (*target, error) { return newTarget(c.reg, v) })
}
