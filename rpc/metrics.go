package rpc

import (
	"sync/atomic"
)

// metrics are the counters of a Server (shared by its connections) or of a
// dialled connection. Every field is updated atomically on the call path.
type metrics struct {
	conns      atomic.Int64
	connsTotal atomic.Uint64
	callsIn    atomic.Uint64
	callsOut   atomic.Uint64
	errors     [codeLimit]atomic.Uint64 // error answers sent, by code; codeNone: the handlers' own errors
	bytesIn    atomic.Uint64            // of connections already closed
	bytesOut   atomic.Uint64
}

// errorKinds names the error codes in Stats.Errors.
var errorKinds = [codeLimit]string{
	codeNone:              "handler",
	codeConnectionLost:    "connection_lost",
	codeNoSuchMethod:      "no_such_method",
	codeNoSuchObject:      "no_such_object",
	codeBadArguments:      "bad_arguments",
	codeBadReply:          "bad_reply",
	codeOverloaded:        "overloaded",
	codePanic:             "panic",
	codeReleased:          "released",
	codeShutdown:          "shutdown",
	codeMessageTooLarge:   "message_too_large",
	codeForeignReference:  "foreign_reference",
	codeNotReferenceable:  "not_referenceable",
	codeTooManyReferences: "too_many_references",
	codeTooManyCalls:      "too_many_calls",
	codeCanceled:          "canceled",
	codeDeadlineExceeded:  "deadline_exceeded",
}

// Stats are a broker's counters at one moment, as Server.Stats sums them
// over a server's connections and Conn.Stats reports them for one
// connection.
type Stats struct {
	Conns        int               // connections open now
	ConnsTotal   uint64            // connections opened since start
	CallsIn      uint64            // calls received (answered, refused or one-way)
	CallsOut     uint64            // calls made
	Errors       map[string]uint64 // error answers sent, by kind ("handler" for the handlers' own errors, "panic", "no_such_method", ...)
	BytesIn      uint64            // transport bytes read, frame headers included
	BytesOut     uint64            // transport bytes written, frame headers included
	PendingCalls int               // outgoing calls waiting for an answer, now
	Handlers     int               // handlers running now
	Exports      int               // local objects the peers hold references to, now
	Imports      int               // live references to the peers' objects, now
}

// totals adds up m and the live connections cs.
func (m *metrics) totals(cs []*Conn) Stats {
	t := Stats{
		Conns:      int(m.conns.Load()),
		ConnsTotal: m.connsTotal.Load(),
		CallsIn:    m.callsIn.Load(),
		CallsOut:   m.callsOut.Load(),
		Errors:     make(map[string]uint64),
		BytesIn:    m.bytesIn.Load(),
		BytesOut:   m.bytesOut.Load(),
	}
	for code := range m.errors {
		if n := m.errors[code].Load(); n > 0 {
			t.Errors[errorKinds[code]] = n
		}
	}
	for _, c := range cs {
		st := c.sess.Stats()
		t.BytesIn += st.BytesIn
		t.BytesOut += st.BytesOut
		t.Exports += c.exports.Len()
		t.Handlers += int(c.answers.running.Load())
		t.PendingCalls += c.questions.waiting()
		t.Imports += c.imports.Len()
	}
	return t
}

// Stats returns the connection's counters: its traffic, calls waiting,
// handlers running and references, and the call, error and connection
// counters of the broker it belongs to (its own when dialled, its server's
// when served).
func (c *Conn) Stats() Stats {
	if c.Err() != nil {
		return c.opts.metrics.totals(nil)
	}
	return c.opts.metrics.totals([]*Conn{c})
}

// Stats returns the server's counters, summed over its connections.
func (s *Server) Stats() Stats { return s.opts.metrics.totals(s.Conns()) }
