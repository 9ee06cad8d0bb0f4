package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Defaults for the keys Firefly leaves optional.
const (
	// DefaultRootHost is where servers dial the master when the master
	// section has no roothost (Firefly's default).
	DefaultRootHost = "localhost"
	// DefaultWebHost is the address the master's admin HTTP endpoints bind
	// to when the master section has no webhost: loopback only.
	DefaultWebHost = "127.0.0.1"
)

// Sentinel errors of config validation; a *ConfigError holds one problem
// per error, each matching one of these.
var (
	// ErrNoMaster reports a config without a "master" section, or a master
	// section without a rootport.
	ErrNoMaster = errors.New("cluster: config: no master")
	// ErrUnknownRoot reports a remoteport entry whose rootname names no
	// server, a server without a rootport, or the server itself.
	ErrUnknownRoot = errors.New("cluster: config: unknown root")
	// ErrPortReused reports a port used twice in the config.
	ErrPortReused = errors.New("cluster: config: port used twice")
	// ErrBadPort reports a port outside 1-65535, or a remoteport's rootport
	// that differs from its root's.
	ErrBadPort = errors.New("cluster: config: bad port")
	// ErrUnknownApp reports a server whose "app" key names no registered
	// application (Apps.Check).
	ErrUnknownApp = errors.New("cluster: config: unknown app")
	// ErrNoKey reports a key or section that the config does not have
	// (ServerConfig.Decode, Config.DecodeSection).
	ErrNoKey = errors.New("cluster: config: no such key")
	// ErrBadName reports a "dns" key or a roothost that is not a DNS
	// name.
	ErrBadName = errors.New("cluster: config: bad DNS name")
	// ErrUnknownServer reports a server name that the config does not have.
	ErrUnknownServer = errors.New("cluster: no such server in the config")
	// ErrBadWire reports a server's or the master's "wire" that is
	// neither "firefly" nor "pb", or a server or master on the PB wire in
	// a config with a "security" section (the PB wire carries none of its
	// credentials).
	ErrBadWire = errors.New("cluster: config: bad wire")
)

// The wires a server's root or the master speaks (ServerConfig.Wire,
// MasterConfig.Wire).
const (
	// WireFirefly is firefly's own wire, the default.
	WireFirefly = "firefly"
	// WirePB is Twisted's Perspective Broker wire, which Python Firefly
	// speaks: package rpc/pb.
	WirePB = "pb"
)

// ConfigError reports every problem found in a config.
type ConfigError struct {
	// Problems holds one error per problem, in a stable order; each
	// matches one of the sentinel errors (ErrNoMaster, ErrUnknownRoot,
	// ErrPortReused, ErrBadPort, ErrBadName, ErrBadWire).
	Problems []error
}

// Error lists the problems, one per line after the first.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("cluster: invalid config")
	if len(e.Problems) == 1 {
		b.WriteString(": ")
		b.WriteString(e.Problems[0].Error())
		return b.String()
	}
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so that errors.Is finds their sentinels.
func (e *ConfigError) Unwrap() []error { return e.Problems }

// Config is a cluster's config.json, read as Firefly wrote it:
//
//	{
//	  "master": {"roothost": "localhost", "rootport": 9999, "webport": 9998},
//	  "servers": {
//	    "gate":  {"rootport": 10000, "name": "gate", "app": "app.gateserver"},
//	    "net":   {"netport": 11009, "name": "net",
//	              "remoteport": [{"rootport": 10000, "rootname": "gate"}]},
//	    "game1": {"remoteport": [{"rootport": 10000, "rootname": "gate"}]}
//	  },
//	  "db": {...}, "memcached": {...}
//	}
//
// Keys that the cluster does not use are kept (Raw, Sections), never an
// error. A server is known by its key in "servers"; its "name" key, if any,
// is kept in Raw but not used.
type Config struct {
	// Master is the "master" section; nil if there is none.
	Master *MasterConfig
	// Servers holds the "servers" section by server name.
	Servers map[string]*ServerConfig
	// Sections holds every other top-level section ("db", "memcached",
	// ...) as it was, for applications (DecodeSection reads one).
	Sections map[string]json.RawMessage

	dir string // the config file's directory, for the files it names
}

// MasterConfig is the "master" section.
type MasterConfig struct {
	// RootHost is where servers dial the master ("roothost"; default
	// DefaultRootHost). The master itself listens on every interface.
	RootHost string `json:"roothost"`
	// RootPort is the port the master accepts servers on ("rootport").
	RootPort int `json:"rootport"`
	// WebPort is the port of the admin HTTP endpoints ("webport"); 0 means
	// none.
	WebPort int `json:"webport"`
	// WebHost is the address the admin endpoints bind to ("webhost", not
	// in Firefly; default DefaultWebHost, loopback only).
	WebHost string `json:"webhost"`
	// RootDNS, if set ("rootdns", not in Firefly), is the cluster-wide
	// form of a remoteport's "dns": every remoteport entry without a "dns"
	// key finds its root at this name, "{name}" standing for the root's
	// name ("_root._tcp.{name}.game.svc.cluster.local.").
	RootDNS string `json:"rootdns"`
	// Wire is the wire the master speaks on its rootport ("wire", not in
	// Firefly): WireFirefly (the default when empty) or WirePB, so that
	// Python Firefly servers register with a Go master, and Go servers
	// with a Python one. A Go master on "pb" serves its root with
	// pb.FireflyRoot, and every Go server joins the master over PB
	// (pb.NodeDialer).
	Wire string `json:"wire"`
	// Raw holds every key of the section as it was.
	Raw map[string]json.RawMessage `json:"-"`
}

// ServerConfig is one entry of the "servers" section.
type ServerConfig struct {
	// Name is the server's key in "servers".
	Name string `json:"-"`
	// RootPort, if not 0, makes the server a root: it accepts nodes there.
	RootPort int `json:"rootport"`
	// NetPort is the port for clients ("netport"); the cluster does not
	// use it, the server's App may.
	NetPort int `json:"netport"`
	// WebPort is the server's own HTTP port ("webport"): the server serves
	// its probes there (HealthHandler), on every interface; 0 means none.
	WebPort int `json:"webport"`
	// RemotePort lists the roots the server joins as a node.
	RemotePort []RemotePort `json:"remoteport"`
	// App names the server's application (Firefly's module path); see
	// Apps.For.
	App string `json:"app"`
	// Log is the server's log file ("log"); unused by the cluster.
	Log string `json:"log"`
	// Wire is the wire the server's root speaks ("wire", not in Firefly):
	// WireFirefly ("firefly", the default when empty) or WirePB ("pb",
	// Twisted's Perspective Broker, which Python Firefly speaks). A Go
	// server whose wire is "pb" serves its root with pb.FireflyRoot, so
	// that Python Firefly nodes join it unchanged, and every Go server
	// joins a root whose wire is "pb" over PB (pb.NodeDialer), whether
	// that root runs Go or Python. A server's link to the master speaks
	// the master's wire (MasterConfig.Wire).
	Wire string `json:"wire"`
	// Raw holds every key of the entry as it was ("db", "mem", "cpu",
	// "reload", ...); Decode reads one.
	Raw map[string]json.RawMessage `json:"-"`
}

// RemotePort is a root a server joins: {"rootname": "gate", "rootport": 10000},
// or, found through DNS instead of the master,
// {"rootname": "gate", "dns": "_gate._tcp.gate.game.svc.cluster.local"}.
type RemotePort struct {
	// RootName is the root server's name.
	RootName string `json:"rootname"`
	// RootPort is the root's rootport; 0 means the root's own, which it
	// must equal otherwise.
	RootPort int `json:"rootport"`
	// DNS, if set, is where the server finds the root, looked up before
	// each attempt to join it, so that a root that moves is found again:
	// an SRV record's name (its first label starts with "_"), whose
	// targets and ports are dialled, or a host name, dialled at the
	// root's rootport. The master's orders for this root are then
	// ignored. See WithResolver, and the master's "rootdns" for a default.
	DNS string `json:"dns"`
}

// UnmarshalJSON reads the known keys and keeps every key in Raw.
func (m *MasterConfig) UnmarshalJSON(b []byte) error {
	type plain MasterConfig
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	return json.Unmarshal(b, &m.Raw)
}

// UnmarshalJSON reads the known keys and keeps every key in Raw.
func (s *ServerConfig) UnmarshalJSON(b []byte) error {
	type plain ServerConfig
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	return json.Unmarshal(b, &s.Raw)
}

// LoadConfig reads and validates the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	return cfg, nil
}

// ParseConfig parses a config and validates it. A JSON error is returned
// as it is, wrapped; a valid JSON config with problems returns a
// *ConfigError.
func ParseConfig(data []byte) (*Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("cluster: config: %w", err)
	}
	cfg := &Config{Servers: make(map[string]*ServerConfig), Sections: make(map[string]json.RawMessage)}
	for key, raw := range top {
		switch key {
		case "master":
			if string(raw) == "null" {
				continue
			}
			cfg.Master = new(MasterConfig)
			if err := json.Unmarshal(raw, cfg.Master); err != nil {
				return nil, fmt.Errorf("cluster: config: master: %w", err)
			}
		case "servers":
			var servers map[string]*ServerConfig
			if err := json.Unmarshal(raw, &servers); err != nil {
				return nil, fmt.Errorf("cluster: config: servers: %w", err)
			}
			for name, sc := range servers {
				if sc == nil {
					sc = new(ServerConfig)
				}
				sc.Name = name
				cfg.Servers[name] = sc
			}
		default:
			cfg.Sections[key] = raw
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks the config and returns a *ConfigError listing every
// problem, or nil.
func (c *Config) Validate() error {
	var problems []error
	add := func(sentinel error, format string, args ...any) {
		problems = append(problems, &problem{sentinel, fmt.Sprintf(format, args...)})
	}
	// ports: who uses each one, in the order found.
	users := make(map[int][]string)
	var order []int
	use := func(where string, port int) {
		if port == 0 {
			return
		}
		if port < 0 || port > 65535 {
			add(ErrBadPort, "%s: port %d is out of range", where, port)
			return
		}
		if users[port] == nil {
			order = append(order, port)
		}
		users[port] = append(users[port], where)
	}

	if c.Master == nil {
		add(ErrNoMaster, `no "master" section`)
	} else {
		if h := c.Master.RootHost; h != "" && net.ParseIP(h) == nil && !validDNSName(h) {
			add(ErrBadName, "master: roothost %q is neither an IP address nor a DNS name", h)
		}
		if d := c.Master.RootDNS; d != "" && (!strings.Contains(d, rootNameVar) || !validDNSName(strings.ReplaceAll(d, rootNameVar, "x"))) {
			add(ErrBadName, "master: rootdns %q is not a DNS name with %s in it", d, rootNameVar)
		}
		if c.Master.RootPort == 0 {
			add(ErrNoMaster, "master: no rootport")
		}
		use("master.rootport", c.Master.RootPort)
		use("master.webport", c.Master.WebPort)
		c.checkWire("master", c.Master.Wire, add)
	}
	for _, name := range c.ServerNames() {
		sc := c.Servers[name]
		use("servers."+name+".rootport", sc.RootPort)
		use("servers."+name+".netport", sc.NetPort)
		use("servers."+name+".webport", sc.WebPort)
		for i, rp := range sc.RemotePort {
			where := fmt.Sprintf("server %q: remoteport[%d]", name, i)
			root := c.Servers[rp.RootName]
			switch {
			case rp.RootName == "":
				add(ErrUnknownRoot, "%s: no rootname", where)
			case rp.RootName == name:
				add(ErrUnknownRoot, "%s: rootname %q is the server itself", where, rp.RootName)
			case root == nil:
				add(ErrUnknownRoot, "%s: rootname %q names no server", where, rp.RootName)
			case root.RootPort == 0:
				add(ErrUnknownRoot, "%s: root %q has no rootport", where, rp.RootName)
			case rp.RootPort != 0 && rp.RootPort != root.RootPort:
				add(ErrBadPort, "%s: rootport %d is not root %q's rootport %d", where, rp.RootPort, rp.RootName, root.RootPort)
			}
			if rp.DNS != "" && !validDNSName(rp.DNS) {
				add(ErrBadName, "%s: dns %q is not a DNS name", where, rp.DNS)
			}
		}
		c.checkWire(fmt.Sprintf("server %q", name), sc.Wire, add)
	}
	for _, port := range order {
		if u := users[port]; len(u) > 1 {
			add(ErrPortReused, "port %d used %d times: %s", port, len(u), strings.Join(u, ", "))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return &ConfigError{Problems: problems}
}

// checkWire adds a problem if wire, the "wire" key of where, is not a wire,
// or is PB in a config with a security section.
func (c *Config) checkWire(where, wire string, add func(sentinel error, format string, args ...any)) {
	switch wire {
	case "", WireFirefly:
	case WirePB:
		if _, secured := c.Sections["security"]; secured {
			add(ErrBadWire, "%s: wire %q: the PB wire carries no credentials, and the config has a security section", where, wire)
		}
	default:
		add(ErrBadWire, "%s: wire %q is neither %q nor %q", where, wire, WireFirefly, WirePB)
	}
}

// problem is one validation problem: its text, matching its sentinel.
type problem struct {
	sentinel error
	text     string
}

func (p *problem) Error() string { return p.text }
func (p *problem) Unwrap() error { return p.sentinel }

// ServerNames returns the servers' names, sorted.
func (c *Config) ServerNames() []string {
	names := make([]string, 0, len(c.Servers))
	for name := range c.Servers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Server returns the config of the server called name, or an error
// matching ErrUnknownServer.
func (c *Config) Server(name string) (*ServerConfig, error) {
	if sc := c.Servers[name]; sc != nil {
		return sc, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownServer, name)
}

// Section returns the top-level section called name ("db", "memcached",
// ...) as it was, or nil.
func (c *Config) Section(name string) json.RawMessage { return c.Sections[name] }

// DecodeSection decodes the top-level section called name into v (as
// json.Unmarshal does); a missing section is an error matching ErrNoKey.
func (c *Config) DecodeSection(name string, v any) error {
	return decodeKey(c.Sections, "", name, v)
}

// Decode decodes the server's key (any key of its entry: "db", "mem",
// "cpu", "reload", ...) into v (as json.Unmarshal does); a missing key is
// an error matching ErrNoKey.
func (s *ServerConfig) Decode(key string, v any) error {
	return decodeKey(s.Raw, "servers."+s.Name+".", key, v)
}

func decodeKey(m map[string]json.RawMessage, where, key string, v any) error {
	raw, ok := m[key]
	if !ok {
		return fmt.Errorf("%w: %s%s", ErrNoKey, where, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("cluster: config: %s%s: %w", where, key, err)
	}
	return nil
}

// rootNameVar stands for a root's name in the master's "rootdns".
const rootNameVar = "{name}"

// RootDNS returns the DNS name at which the server sc finds root: its
// remoteport entry's "dns", else the master's "rootdns" for root, else ""
// (the master says where root is).
func (c *Config) RootDNS(sc *ServerConfig, root string) string {
	for _, rp := range sc.RemotePort {
		if rp.RootName == root && rp.DNS != "" {
			return rp.DNS
		}
	}
	if c.Master != nil && c.Master.RootDNS != "" {
		return strings.ReplaceAll(c.Master.RootDNS, rootNameVar, root)
	}
	return ""
}

// validDNSName reports whether name is made of labels of 1-63 letters,
// digits, '-' and '_', at most 253 bytes, with an optional trailing dot.
func validDNSName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// MasterAddr returns the address servers dial the master at:
// roothost:rootport. A roothost that is a DNS name is looked up before each
// attempt (see WithResolver); an SRV name (_master._tcp.game.svc.cluster.local)
// gives the port too.
func (c *Config) MasterAddr() string {
	host := c.Master.RootHost
	if host == "" {
		host = DefaultRootHost
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Master.RootPort))
}

// AdminAddr returns the address of the master's admin endpoints,
// webhost:webport, or "" if there is no webport.
func (c *Config) AdminAddr() string {
	if c.Master == nil || c.Master.WebPort == 0 {
		return ""
	}
	host := c.Master.WebHost
	if host == "" {
		host = DefaultWebHost
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Master.WebPort))
}

// PB reports whether the root of the server called name speaks the PB wire
// (its "wire" is "pb").
func (c *Config) PB(name string) bool {
	sc := c.Servers[name]
	return sc != nil && sc.Wire == WirePB
}

// MasterPB reports whether the master speaks the PB wire (its "wire" is
// "pb").
func (c *Config) MasterPB() bool { return c.Master != nil && c.Master.Wire == WirePB }

// Roots returns the names of the roots the server called name joins, in
// config order.
func (c *Config) Roots(name string) []string {
	sc := c.Servers[name]
	if sc == nil {
		return nil
	}
	roots := make([]string, 0, len(sc.RemotePort))
	for _, rp := range sc.RemotePort {
		roots = append(roots, rp.RootName)
	}
	return roots
}

// rootPort returns the port of root as the server sc dials it.
func (c *Config) rootPort(sc *ServerConfig, root string) (int, bool) {
	for _, rp := range sc.RemotePort {
		if rp.RootName != root {
			continue
		}
		if rp.RootPort != 0 {
			return rp.RootPort, true
		}
		if r := c.Servers[root]; r != nil && r.RootPort != 0 {
			return r.RootPort, true
		}
	}
	return 0, false
}
