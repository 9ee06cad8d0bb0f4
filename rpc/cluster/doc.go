// Package cluster runs a Firefly cluster on firefly's rpc layer: the master
// every server joins, the servers (roots and nodes) that join the roots the
// master tells them about, and the admin commands that stop or reload them
// all, from one config.json in Firefly's own format.
//
// # Config
//
// LoadConfig and ParseConfig read Firefly's config.json as it is: a
// "master" section (rootport, webport, roothost), a "servers" section (per
// server: rootport, netport, webport, remoteport, app, log, ...), and any
// other top-level section ("db", "memcached") kept for applications in
// Config.Sections. Keys the cluster does not use are kept in Raw, never an
// error. Validation reports every problem at once in a *ConfigError: a
// missing master section, a remoteport naming no server (or one without a
// rootport), a port used twice.
//
// # Master
//
// A Master is a distributed.Root. Each server joins it as a distributed.Node
// named after the server, on the master's wire (see below). It keeps the remote map, the host it saw each server at and
// the roots that server wants, and calls "remote_connect"(root, host) on the
// servers: on the servers that want a root when the root joins, and on a
// server that joins for each of its roots already there. The host given is
// always the root's (Firefly gave the node's own, which broke clusters on
// several machines). Servers reconnect to a restarted master by themselves
// and so rebuild its map.
//
// # Server
//
// A Server runs one server of the config: its root (if it has a rootport),
// a node per remoteport entry (joined where and when the master says, or,
// for an entry with a "dns" key, where DNS says: see below), and its master
// link. The application code of a server is an App, a Go
// function registered under the config's "app" key or the server's name
// (Apps). The "app" key wins when present, and one that names no registered
// app is a config error (Apps.Check) rather than a fallback to the server's
// name; a server without the key runs the app of its own name, if any:
// Go loads no code at run time, so the binary that runs a cluster is built
// with its apps (see cmd/firefly and examples/cluster).
//
// # DNS
//
// A remoteport entry {"rootname": "gate", "dns": NAME} finds its root
// through DNS: NAME is an SRV record's name when its first label starts
// with "_" (_root._tcp.gate.game.svc.cluster.local.: its targets, at its
// ports), else a host name (dialled at the root's rootport). The server
// joins such a root when it starts, whether a master runs or not, looks
// NAME up again before every reconnection (distributed.WithResolver), and ignores
// the master's remote_connect for it. The master section's "rootdns"
// ("_root._tcp.{name}.game.svc.cluster.local.") gives every entry without a
// "dns" key its name, {name} standing for the root's. A master roothost
// that is a DNS name
// is looked up the same way. WithResolver chooses the resolver.
//
// # Python Firefly servers: the PB wire
//
// A server's "wire" key (not in Firefly) says which wire its root speaks:
// "firefly" (the default) or "pb", Twisted's Perspective Broker, which
// Python Firefly speaks (package rpc/pb). A Go server whose "wire" is "pb"
// serves its root on its rootport with pb.FireflyRoot, so that Python
// Firefly nodes join it unchanged (takeProxy, callTarget, callChild); Go
// servers join a root whose "wire" is "pb" over PB too (pb.NodeDialer),
// with the same reconnection as on the firefly wire.
//
// The master section's "wire" says the same of the master. A Go master on
// "pb" serves its root on its rootport with pb.FireflyRoot: Python Firefly
// servers register with it as with Firefly's master (takeProxy(name,
// proxy)), and it records each at the host its PB connection came from,
// sends it remote_connect(rootname, host) through callChild, and reaches it
// with serverStop and sreload from /stop and /reloadmodule. Every Go server
// of such a config joins the master over PB, so a Go server registers with
// a Python Firefly master too, and with a Go one on "pb" it keeps
// everything of the firefly wire: the remote map, the orders, GET /status
// and /cluster (a Python server answers serverStatus with nothing, which
// /cluster reports as ErrNoStatus). What PB cannot carry: credentials, so
// "wire": "pb" in a config with a "security" section is a config error
// (ErrBadWire), and proved names; and a child's liveness, so a server
// joining under a name that a live server holds replaces it, where the
// firefly wire refuses the newcomer while the holder answers a ping. Python Firefly servers do not
// reconnect to a restarted master (Go servers do, on either wire).
//
// With the master on the firefly wire, a Python server is not a member of
// the master: Go servers find a Python root through their remoteport
// entry's "dns" (a host name or an IP address, dialled at the root's
// rootport), and Python nodes dial their Go roots as they always have.
//
// # Health and status
//
// A server with a webport serves HealthHandler there: GET /healthz (200
// while it runs) and GET /readyz (200 or 503: its ServerStatus). The master
// asks each joined server for its ServerStatus (serverStatus) and serves
// the list as GET /cluster on its admin port (ClusterStatus is the client).
//
// # Admin
//
// Master.StopAll and Master.ReloadAll make every server run its stop hook
// and exit, or run its reload hook. Master.Handler serves them over HTTP as
// Firefly did, on master.webport, bound to loopback unless master.webhost
// says otherwise: POST /stop, POST /reloadmodule, GET /status (the
// remote map), GET /cluster, /healthz and /readyz. With a "security" section the POSTs need the admin token
// (Config.AdminToken). Stop, Reload and Status are their clients.
package cluster
