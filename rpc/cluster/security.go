package cluster

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// ErrSecurity reports a "security" section that cannot be used: a malformed
// section, or a certificate, key or secret file that cannot be read.
var ErrSecurity = errors.New("cluster: security")

// SecurityConfig is the optional top-level "security" section, firefly's own
// addition to Firefly's format. It secures every link of the cluster — each
// server to the master, and each node to its roots — and the admin HTTP
// endpoints stay on loopback as before:
//
//	"security": {
//	  "tls": {"cert": "server.pem", "key": "server.key", "ca": "ca.pem", "server_name": "firefly"},
//	  "secret_file": "cluster.secret"
//	}
//
// With "tls", every process presents cert/key, and both ends of a link verify
// the other's certificate against ca (mutual TLS); "server_name", when set,
// is the name every certificate is checked for (else the host dialled). With
// "secret_file", the two ends of every link also prove to each other that they
// hold the secret in that file (HMAC challenge-response, see docs/SECURITY.md);
// a server presents its name as its identity, the master "master". Relative
// paths are taken from the config file's directory (LoadConfig) or the
// working directory (ParseConfig). Either may be used alone.
//
// A file name with "{name}" in it ("certs/{name}.pem", "{name}.secret") is
// one file per process, "{name}" standing for the process's name. Then each
// root (the master, and every server with a rootport) accepts a node only
// under the name its own credentials prove, and with certificates per
// process each process checks the certificate of the one it dials for that
// one's name (see docs/SECURITY.md for what that guarantees). With one file
// for everybody the names are not proved.
//
// With a security section the admin endpoints' POSTs (stop, reload) need a
// token: the contents of "admin_token_file", else the master's secret (see
// Config.AdminToken).
type SecurityConfig struct {
	TLS            *TLSFiles `json:"tls,omitempty"`
	SecretFile     string    `json:"secret_file,omitempty"`
	AdminTokenFile string    `json:"admin_token_file,omitempty"`
}

// TLSFiles names the PEM files of the "tls" part of the security section.
type TLSFiles struct {
	Cert       string `json:"cert"`
	Key        string `json:"key"`
	CA         string `json:"ca"`
	ServerName string `json:"server_name,omitempty"`
}

// AdminToken returns the token the master's admin POST endpoints require
// (see Master.Handler): the contents of the security section's
// "admin_token_file", else the master's secret ("secret_file"), with
// surrounding white space trimmed. It returns nil without a security
// section, and an error matching ErrSecurity when the section has neither
// file or the file cannot be read.
func (c *Config) AdminToken() ([]byte, error) {
	sc, err := c.Security()
	if sc == nil || err != nil {
		return nil, err
	}
	file := sc.AdminTokenFile
	if file == "" {
		file = named(sc.SecretFile, masterIdentity)
	}
	if file == "" {
		return nil, fmt.Errorf("%w: the admin endpoints need admin_token_file or secret_file", ErrSecurity)
	}
	return readSecret(c.path(file))
}

// readSecret reads a secret or token file, trimmed; an empty one is an
// error.
func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSecurity, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrSecurity, path)
	}
	return b, nil
}

// masterIdentity is the identity the master proves with the shared secret.
const masterIdentity = "master"

// Security returns the config's "security" section, or nil when there is
// none.
func (c *Config) Security() (*SecurityConfig, error) {
	raw, ok := c.Sections["security"]
	if !ok {
		return nil, nil
	}
	var sc SecurityConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&sc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSecurity, err)
	}
	if sc.TLS != nil && (sc.TLS.Cert == "" || sc.TLS.Key == "" || sc.TLS.CA == "") {
		return nil, fmt.Errorf("%w: tls needs cert, key and ca", ErrSecurity)
	}
	return &sc, nil
}

// nameVar in a file name of the security section stands for a process's
// name: each process then has credentials of its own.
const nameVar = "{name}"

// perName reports whether file names a file per process.
func perName(file string) bool { return strings.Contains(file, nameVar) }

// named returns file for the process called name.
func named(file, name string) string { return strings.ReplaceAll(file, nameVar, name) }

// links is the security of the links of one process of the cluster.
type links struct {
	serve []rpc.Option         // its root's server options
	roots []distributed.Option // its root's options (proved names)
	tls   *tls.Config          // the dialling TLS config, without ServerName; nil: no TLS
	name  string               // server_name: what every certificate is checked for
	each  bool                 // TLS certificates per process: check each for the peer's name
	auth  []rpc.Option         // the dialling shared-secret option
}

// dial returns the options of a link dialled to target ("master" or a
// root's name), found at host: the name a TLS certificate is checked for
// when neither server_name nor per-process certificates say (the host of
// the address dialled when host is "").
func (l *links) dial(target, host string) []rpc.Option {
	if l == nil {
		return nil
	}
	opts := slices.Clone(l.auth)
	if l.tls != nil {
		cfg := l.tls.Clone()
		switch {
		case l.name != "":
			cfg.ServerName = l.name
		case l.each:
			cfg.ServerName = target
		case host != "":
			cfg.ServerName = host
		}
		opts = append(opts, rpc.WithTLS(cfg))
	}
	return opts
}

// DialOptions returns the options with which the process called self
// dials target ("master" or a root's name) under the config's security
// section: its TLS and shared-secret options, as a server of the cluster
// uses them; nil without a security section. With files per process
// ("{name}"), self's own are read. Tools that reach a cluster (the firefly
// command) use it.
func (c *Config) DialOptions(self, target string) ([]rpc.Option, error) {
	l, err := c.links(self)
	if err != nil {
		return nil, err
	}
	return l.dial(target, ""), nil
}

// links returns the security of the links of the process named self
// ("master" for the master): for the side that serves (its root) and for
// the side that dials (its nodes). Without a security section it is nil.
//
// A file name of the section with "{name}" in it is one file per process:
// the process called self presents its own (its certificate and key, or its
// secret), its root accepts each process that joins it by that process's
// secret (the master: every server's; a root: its nodes'), and its root
// accepts a node only under the name its credentials prove
// (distributed.WithProvedNames). With per-process certificates each process also
// checks the certificate of the process it dials for that process's name
// ("master", or the root's name), unless server_name says otherwise.
func (c *Config) links(self string) (*links, error) {
	sc, err := c.Security()
	if sc == nil || err != nil {
		return nil, err
	}
	l := &links{}
	certNamed, secretNamed := false, perName(sc.SecretFile)
	if sc.TLS != nil {
		certNamed = perName(sc.TLS.Cert) || perName(sc.TLS.Key)
		cert, err := tls.LoadX509KeyPair(c.path(named(sc.TLS.Cert, self)), c.path(named(sc.TLS.Key, self)))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSecurity, err)
		}
		pem, err := os.ReadFile(c.path(sc.TLS.CA))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSecurity, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: no certificate in %s", ErrSecurity, sc.TLS.CA)
		}
		l.serve = append(l.serve, rpc.WithTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS13,
		}))
		l.tls = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
		l.name, l.each = sc.TLS.ServerName, certNamed
	}
	if sc.SecretFile != "" {
		secret, err := readSecret(c.path(named(sc.SecretFile, self)))
		if err != nil {
			return nil, err
		}
		ring := make(map[string][]byte)
		if secretNamed {
			// Each process that joins self, by its own secret.
			for _, name := range c.joiners(self) {
				if ring[name], err = readSecret(c.path(named(sc.SecretFile, name))); err != nil {
					return nil, err
				}
			}
		} else {
			// Every process of the cluster shares the secret; each is
			// known by its name, which the secret does not prove.
			ring[masterIdentity] = secret
			for name := range c.Servers {
				ring[name] = secret
			}
		}
		l.serve = append(l.serve, rpc.WithKeyring(rpc.KeyringOf(ring)))
		l.auth = []rpc.Option{rpc.WithSharedSecret(self, secret)}
	}
	switch {
	case secretNamed && certNamed:
		l.roots = []distributed.Option{distributed.WithProvedNames(func(p rpc.Peer) string {
			if id := certName(p); id != p.Identity || !p.Verified {
				return ""
			}
			return p.Identity
		})}
	case secretNamed:
		l.roots = []distributed.Option{distributed.WithProvedNames(nil)}
	case certNamed:
		l.roots = []distributed.Option{distributed.WithProvedNames(certName)}
	}
	return l, nil
}

// certName returns the common name of the peer's verified TLS
// certificate, or "".
func certName(p rpc.Peer) string {
	if p.TLS == nil || len(p.TLS.VerifiedChains) == 0 || len(p.TLS.PeerCertificates) == 0 {
		return ""
	}
	return p.TLS.PeerCertificates[0].Subject.CommonName
}

// joiners returns the processes that join self: every server for the
// master, the servers whose remoteport lists self for a root.
func (c *Config) joiners(self string) []string {
	var names []string
	for _, name := range c.ServerNames() {
		if self == masterIdentity || slices.Contains(c.Roots(name), self) {
			names = append(names, name)
		}
	}
	return names
}

// path resolves a file named in the config.
func (c *Config) path(p string) string {
	if filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}
