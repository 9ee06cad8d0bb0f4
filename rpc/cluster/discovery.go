package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ErrNoAddress reports a DNS name of the config (a remoteport's "dns", the
// master's roothost) that resolved to no address.
var ErrNoAddress = errors.New("cluster: name resolved to no address")

// WithResolver makes a server look up the DNS names of its config (a
// remoteport's "dns" key, a master roothost that is a name) with r, before
// each attempt to connect. The default is net.DefaultResolver. Tests and
// clusters with a DNS server of their own (Consul's, say) pass
// &net.Resolver{PreferGo: true, Dial: ...}.
func WithResolver(r *net.Resolver) Option { return func(o *options) { o.resolver = r } }

// isSRV reports whether name is an SRV record's name: its first label
// starts with an underscore (_gate._tcp.game.svc.cluster.local).
func isSRV(name string) bool { return strings.HasPrefix(name, "_") }

// srvService returns the name an SRV name's addresses are known by: the
// name without its _service._proto labels (gate.game.svc.cluster.local for
// _gate._tcp.gate.game.svc.cluster.local), without a trailing dot.
func srvService(name string) string {
	name = strings.TrimSuffix(name, ".")
	for range 2 {
		if !strings.HasPrefix(name, "_") {
			break
		}
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			break
		}
		name = rest
	}
	return name
}

// resolveAddrs returns the host:port addresses of name: an SRV record's
// targets (in the record's priority and weight order) at their ports, or a
// host name's (or IP's) addresses at port.
func resolveAddrs(ctx context.Context, r *net.Resolver, name string, port int) ([]string, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	type target struct {
		host string
		port int
	}
	var targets []target
	if isSRV(name) {
		_, srvs, err := r.LookupSRV(ctx, "", "", name)
		if err != nil && len(srvs) == 0 {
			return nil, fmt.Errorf("%w: SRV %s: %w", ErrNoAddress, name, err)
		}
		for _, s := range srvs {
			targets = append(targets, target{s.Target, int(s.Port)})
		}
	} else {
		targets = []target{{name, port}}
	}
	var addrs []string
	var errs []error
	for _, tg := range targets {
		host := strings.TrimSuffix(tg.host, ".")
		if ip := net.ParseIP(host); ip != nil {
			addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(tg.port)))
			continue
		}
		ips, err := r.LookupHost(ctx, host)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster: %s: %w", host, err))
			continue
		}
		for _, ip := range ips {
			addrs = append(addrs, net.JoinHostPort(ip, strconv.Itoa(tg.port)))
		}
	}
	if len(addrs) == 0 {
		if len(errs) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoAddress, name)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrNoAddress, name, errors.Join(errs...))
	}
	return addrs, nil
}

// MasterAddrs returns the host:port addresses to dial the master at: the
// targets of the master's roothost when it names an SRV record, a host
// name's addresses at rootport, or MasterAddr for an IP address. r is the
// resolver to ask (nil: the system's).
func (c *Config) MasterAddrs(ctx context.Context, r *net.Resolver) ([]string, error) {
	host := c.Master.RootHost
	if host == "" || net.ParseIP(host) != nil {
		return []string{c.MasterAddr()}, nil
	}
	return resolveAddrs(ctx, r, host, c.Master.RootPort)
}
