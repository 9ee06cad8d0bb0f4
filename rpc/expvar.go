package rpc

import (
	"encoding/json"
	"strconv"
)

// ExpvarFunc is a variable for package expvar whose value is f's result as
// JSON, computed each time it is read: it has the String method of
// expvar.Var, so it can be published with expvar.Publish. It behaves like
// expvar.Func.
//
// The package does not import expvar, whose init registers /debug/vars on
// http.DefaultServeMux and publishes the command line and memory statistics;
// publishing is left to the program, under a name of its choosing:
//
//	expvar.Publish("firefly", srv.Expvar())
type ExpvarFunc func() any

// String returns f's result as JSON, or a JSON string with the error when it
// cannot be encoded.
func (f ExpvarFunc) String() string {
	b, err := json.Marshal(f())
	if err != nil {
		return strconv.Quote("rpc: " + err.Error())
	}
	return string(b)
}

// Expvar returns a variable for package expvar whose value is the server's
// Stats, read afresh each time, as a JSON object with the fields of Stats
// ("Conns", "CallsIn", "Errors", ...). Nothing is published until the
// program does so:
//
//	expvar.Publish("firefly", srv.Expvar())
func (s *Server) Expvar() ExpvarFunc { return func() any { return s.Stats() } }

// Expvar returns a variable for package expvar whose value is the
// connection's Stats as a JSON object. See Server.Expvar.
func (c *Conn) Expvar() ExpvarFunc { return func() any { return c.Stats() } }
