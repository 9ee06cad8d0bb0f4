package cluster

import (
	"cmp"
	"net"
	"slices"
)

// Remote is what the master knows of a server that joined it (an entry of
// Firefly's remote_map).
type Remote struct {
	// Host is the server's address as the master saw it.
	Host string `json:"host"`
	// Roots lists the roots the server joins (its config's remoteport).
	Roots []string `json:"roots"`
}

// remoteEntry is a joined server: its Remote, the child id that joined,
// and via, the master's own address on that server's connection.
type remoteEntry struct {
	Remote
	id  uint64
	via string
}

// order is one remote_connect the master sends: server should join root
// at host.
type order struct {
	server, root, host string
}

// remoteMap is Firefly's remote_map with the master's join logic. It is not
// safe for concurrent use.
type remoteMap struct {
	m map[string]*remoteEntry
}

// join records server name, replacing an earlier entry, and returns the
// orders to send, sorted: every server that wants name as a root is told to
// join it, at name's host; name is told to join each of its roots already
// known, at that root's host. (Firefly sent the wanting server's own host
// in the first case.)
func (r *remoteMap) join(name string, e *remoteEntry) []order {
	if r.m == nil {
		r.m = make(map[string]*remoteEntry)
	}
	r.m[name] = e
	var orders []order
	for server, s := range r.m {
		if server != name && slices.Contains(s.Roots, name) {
			orders = append(orders, order{server, name, hostFor(e, s)})
		}
	}
	for _, root := range e.Roots {
		if re := r.m[root]; re != nil && root != name {
			orders = append(orders, order{name, root, hostFor(re, e)})
		}
	}
	slices.SortFunc(orders, func(a, b order) int {
		if a.server != b.server {
			return cmp.Compare(a.server, b.server)
		}
		return cmp.Compare(a.root, b.root)
	})
	return orders
}

// leave forgets server name if its entry is still the one child id made,
// and reports whether it did.
func (r *remoteMap) leave(name string, id uint64) bool {
	if e := r.m[name]; e != nil && e.id == id {
		delete(r.m, name)
		return true
	}
	return false
}

// snapshot returns a copy of the map.
func (r *remoteMap) snapshot() map[string]Remote {
	out := make(map[string]Remote, len(r.m))
	for name, e := range r.m {
		out[name] = Remote{Host: e.Host, Roots: slices.Clone(e.Roots)}
	}
	return out
}

// hostFor returns the host node should dial root at: the host the master
// saw root at, except that a root seen over loopback is on the master's own
// machine, which a node on another machine reaches at the master's address
// on its own connection.
func hostFor(root, node *remoteEntry) string {
	if isLoopback(root.Host) && !isLoopback(node.Host) && node.via != "" {
		return node.via
	}
	return root.Host
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
