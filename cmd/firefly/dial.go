package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/cluster"
	"github.com/fireflyrpc/firefly/rpc/distributed"
)

// dialFlags are the flags of the subcommands that dial a server (call,
// methods): where, with what security, and as which node.
type dialFlags struct {
	addr, configPath, server string
	name                     string
	ca, cert, key, tlsName   string
	secretFile, identity     string
	dns                      string
	timeout                  time.Duration
}

func (d *dialFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.addr, "addr", "", "the server's `host:port`")
	fs.StringVar(&d.configPath, "config", "", "a cluster's config `file`: its security section secures the connection, and -server names a server of it")
	fs.StringVar(&d.server, "server", "", "dial the root of the config's server called `name` (\"master\" for the master), at the host the master saw it at")
	fs.StringVar(&d.name, "name", fmt.Sprintf("firefly-cli-%d", os.Getpid()), "the node `name` under which a root's service targets are reached")
	fs.StringVar(&d.ca, "tls-ca", "", "TLS: verify the server against the CA certificates in this PEM `file`")
	fs.StringVar(&d.cert, "tls-cert", "", "TLS: present the certificate in this PEM `file` (with -tls-key)")
	fs.StringVar(&d.key, "tls-key", "", "TLS: the key of -tls-cert, a PEM `file`")
	fs.StringVar(&d.tlsName, "tls-server-name", "", "TLS: the `name` the server's certificate is checked for (default: the host dialled)")
	fs.StringVar(&d.secretFile, "secret-file", "", "prove knowledge of the shared secret in this `file` (and check the server's)")
	fs.StringVar(&d.identity, "identity", "master", "the `identity` whose secret is presented (-secret-file, or the config's file for it); on a cluster with files per process, a node of the root dialled, with -name the same")
	fs.StringVar(&d.dns, "dns", "", "with -server master: look an SRV or host name roothost up at this DNS server's `host:port` (UDP), not the system's")
	fs.DurationVar(&d.timeout, "timeout", 10*time.Second, "time limit for the whole command")
}

// target is what the subcommand calls: a root object, or a root's service
// reached as a node.
type target struct {
	ref   *rpc.Ref
	close func()
}

// open dials the server and returns its root object, or with service the
// root's service (after the takeProxy handshake, as a node called -name).
func (d *dialFlags) open(ctx context.Context, service bool) (*target, error) {
	switch {
	case d.addr == "" && d.server == "":
		return nil, &usageError{"-addr or -server is required"}
	case d.addr != "" && d.server != "":
		return nil, &usageError{"-addr and -server exclude each other"}
	case d.server != "" && d.configPath == "":
		return nil, &usageError{"-server needs -config"}
	}
	var cfg *cluster.Config
	if d.configPath != "" {
		var err error
		if cfg, err = cluster.LoadConfig(d.configPath); err != nil {
			return nil, err
		}
	}
	opts, err := d.security(cfg)
	if err != nil {
		return nil, err
	}
	addr := d.addr
	if d.server != "" {
		if addr, err = serverAddr(ctx, cfg, d.server, d.resolver()); err != nil {
			return nil, err
		}
	}
	if !service {
		conn, err := rpc.Dial(ctx, "tcp", addr, opts...)
		if err != nil {
			return nil, err
		}
		return &target{ref: conn.Root(), close: func() { conn.Close() }}, nil
	}
	node := distributed.NewNode(d.name, distributed.WithDialOptions(opts...))
	if err := node.Connect(ctx, addr); err != nil {
		node.Close()
		return nil, err
	}
	return &target{ref: node.Remote(), close: func() { node.Close() }}, nil
}

// security returns the TLS and shared-secret options: the flags', else the
// config's security section's.
func (d *dialFlags) security(cfg *cluster.Config) ([]rpc.Option, error) {
	explicit := d.ca != "" || d.cert != "" || d.key != "" || d.tlsName != "" || d.secretFile != ""
	if !explicit {
		if cfg == nil {
			return nil, nil
		}
		to := d.server
		if to == "" {
			to = "master"
		}
		return cfg.DialOptions(d.identity, to)
	}
	var opts []rpc.Option
	if d.ca != "" || d.cert != "" || d.key != "" || d.tlsName != "" {
		if d.ca == "" {
			return nil, &usageError{"TLS needs -tls-ca"}
		}
		if (d.cert == "") != (d.key == "") {
			return nil, &usageError{"-tls-cert and -tls-key go together"}
		}
		pem, err := os.ReadFile(d.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", d.ca)
		}
		tc := &tls.Config{RootCAs: pool, ServerName: d.tlsName, MinVersion: tls.VersionTLS12}
		if d.cert != "" {
			c, err := tls.LoadX509KeyPair(d.cert, d.key)
			if err != nil {
				return nil, err
			}
			tc.Certificates = []tls.Certificate{c}
		}
		opts = append(opts, rpc.WithTLS(tc))
	}
	if d.secretFile != "" {
		b, err := os.ReadFile(d.secretFile)
		if err != nil {
			return nil, err
		}
		secret := []byte(strings.TrimSpace(string(b)))
		if len(secret) == 0 {
			return nil, fmt.Errorf("%s: empty secret", d.secretFile)
		}
		opts = append(opts, rpc.WithSharedSecret(d.identity, secret))
	}
	return opts, nil
}

// resolver is the resolver -dns names, or nil for the system's.
func (d *dialFlags) resolver() *net.Resolver {
	if d.dns == "" {
		return nil
	}
	return resolverAt(d.dns)
}

// serverAddr returns where the root of the config's server name listens:
// for "master" the master's roothost (an SRV record's first target, a
// host name's first address, or an IP) at rootport, else the host the master saw
// the server at (its admin /status) with the server's rootport.
func serverAddr(ctx context.Context, cfg *cluster.Config, name string, r *net.Resolver) (string, error) {
	if name == "master" {
		addrs, err := cfg.MasterAddrs(ctx, r)
		if err != nil {
			return "", fmt.Errorf("where the master is: %w", err)
		}
		if len(addrs) == 0 {
			return "", fmt.Errorf("where the master is: %s has no address", cfg.Master.RootHost)
		}
		return addrs[0], nil
	}
	sc, err := cfg.Server(name)
	if err != nil {
		return "", err
	}
	if sc.RootPort == 0 {
		return "", fmt.Errorf("server %q has no rootport: it serves no root to dial", name)
	}
	admin := adminAddr(cfg)
	if admin == "" {
		return "", errors.New("the master has no webport: cannot ask it where the server is; use -addr")
	}
	rm, err := cluster.Status(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("asking the master where %q is: %w", name, err)
	}
	remote, ok := rm[name]
	if !ok {
		return "", fmt.Errorf("server %q has not joined the master", name)
	}
	host := remote.Host
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(sc.RootPort)), nil
}
