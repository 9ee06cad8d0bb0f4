// Package broker holds the parts of a Perspective Broker that do not depend
// on its wire, used by package rpc (firefly's wire) and package rpc/pb
// (Twisted's):
//
//   - Exports, a connection's table of the local objects its peer holds by
//     reference, counted per transmission as PB counts them;
//   - Imports, the table of the references the peer sent, each held weakly
//     so that an unreachable one is released by a cleanup;
//   - Server, a server's accept loop with its bound on connections in their
//     handshakes, and its set of connections;
//   - Dial and Bounded, which dial and run a handshake step within a
//     context;
//   - Notifications, the functions a connection calls when it ends.
//
// Each broker keeps what is its wire's alone: how ids, calls and releases
// are written, and its own sentinel errors, which it hands the tables.
package broker

// ID is the type of an object id on a wire: firefly's ids are unsigned,
// PB's luids signed.
type ID interface{ ~uint64 | ~int64 }
