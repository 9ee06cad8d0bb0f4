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

	"github.com/fireflyrpc/firefly/rpc"
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
		file = sc.SecretFile
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

// linkOptions returns the rpc options of the links of the process named
// self ("master" for the master): for the side that serves (its root) and
// for the side that dials (its nodes).
func (c *Config) linkOptions(self string) (serve, dial []rpc.Option, err error) {
	sc, err := c.Security()
	if sc == nil || err != nil {
		return nil, nil, err
	}
	if sc.TLS != nil {
		cert, err := tls.LoadX509KeyPair(c.path(sc.TLS.Cert), c.path(sc.TLS.Key))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrSecurity, err)
		}
		pem, err := os.ReadFile(c.path(sc.TLS.CA))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrSecurity, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("%w: no certificate in %s", ErrSecurity, sc.TLS.CA)
		}
		serve = append(serve, rpc.WithTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS13,
		}))
		dial = append(dial, rpc.WithTLS(&tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   sc.TLS.ServerName,
			MinVersion:   tls.VersionTLS13,
		}))
	}
	if sc.SecretFile != "" {
		secret, err := os.ReadFile(c.path(sc.SecretFile))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrSecurity, err)
		}
		secret = bytes.TrimSpace(secret)
		if len(secret) == 0 {
			return nil, nil, fmt.Errorf("%w: %s is empty", ErrSecurity, sc.SecretFile)
		}
		// Every process of the cluster shares the secret; each is known by
		// its name.
		ring := map[string][]byte{masterIdentity: secret}
		for name := range c.Servers {
			ring[name] = secret
		}
		serve = append(serve, rpc.WithKeyring(rpc.KeyringOf(ring)))
		dial = append(dial, rpc.WithSharedSecret(self, secret))
	}
	return serve, dial, nil
}

// path resolves a file named in the config.
func (c *Config) path(p string) string {
	if filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}
