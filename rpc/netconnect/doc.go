// Package netconnect is Firefly's client front-end: game clients connect
// over TCP and speak Firefly's datapack protocol, and a Server keeps a
// Session per client, hands each packet to a handler by command id, sends
// replies and pushes packets to sets of sessions.
//
// # Packets
//
// Every packet is a 17-byte big-endian header, Firefly's "!sssss3I" (four
// head bytes, a protocol-version byte, a uint32 server version, a uint32
// length equal to the body's length plus 4, a uint32 command id), then the
// body (see HeaderSize). A Datapack holds the head bytes and versions a
// server expects (all zero by default) and the largest body it accepts;
// a header that does not match closes the session with a *HeaderError. A
// reply carries the request's command id; a push carries a topic id in the
// same place.
//
// # Sessions and limits
//
// A session is read by one goroutine, which also runs its handlers, one
// packet at a time; a second goroutine writes to it only while packets
// wait, so an idle session costs one goroutine and a few KiB. Each session
// is held to limits (see the With options and their defaults): an idle
// timeout, a largest body, a bounded write queue (a client that does not
// read is dropped, never buffered without end), a write timeout, a packet
// rate, and the server to a number of sessions. Each closed session has a
// reason (Session.Err, the OnLost hook), logged with it and counted in
// Stats.
//
// # Statistics
//
// Server.Stats counts sessions, packets and bytes, packets that got no
// reply by kind, and closed sessions by reason, in the vocabulary of
// rpc.Stats. Operators read them as rpc's servers publish theirs: an expvar
// variable (Server.Expvar), a JSON debug page with the limits
// (Server.DebugHandler), and, in a cluster, from the gate
// (Gate.Stats, the front-end's "netStats").
//
// # Clusters
//
// In a Firefly cluster the net server forwards every client packet to its
// gate, which answers or hands it to a game node, and the gate pushes
// packets to clients through net. Server.Forward wires that through the rpc
// layer: a catch-all handler calls the gate's "forwarding"(command,
// session, data), the node's service answers "pushData"(topic, data,
// sessions) and "broadcastData"(topic, data), and a lost session calls the
// gate's "netConnLost"(session). A burst of packets past what the gate runs
// at once waits on the rpc connection, whose peer announces that limit. Gate is the gate's side. ClusterApp runs
// the front-end, so wired, on the netport of every cluster server that has
// one.
package netconnect
