package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// runCluster is "firefly [-config FILE] [-master | -server NAME]".
func runCluster(ctx context.Context, args []string) error {
	fs := newFlags("")
	configPath := fs.String("config", "config.json", "the cluster's config `file`")
	master := fs.Bool("master", false, "run only the master")
	server := fs.String("server", "", "run only the server called `name`")
	lf := addLogFlags(fs)
	introspect := fs.Bool("introspect", false, "let clients list the roots' service targets (firefly methods -targets, firefly call -target)")
	dns := fs.String("dns", "", "look the config's DNS names up at this DNS server's `host:port` (UDP), not the system's")
	restart := fs.Bool("restart", false, "when a server (or the master) fails, restart it with backoff instead of stopping every server")
	skip := fs.String("skip", "", "comma-separated `names` of servers the launcher does not start, which run elsewhere (a Python Firefly server on the PB wire, say)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var opts []cluster.Option
	if *introspect {
		opts = append(opts, cluster.WithIntrospection(true))
	}
	if *dns != "" {
		if _, _, err := net.SplitHostPort(*dns); err != nil {
			return &usageError{fmt.Sprintf("-dns %q: %v", *dns, err)}
		}
		opts = append(opts, cluster.WithResolver(resolverAt(*dns)))
	}
	if *master && *server != "" {
		return &usageError{"-master and -server exclude each other"}
	}
	if (*restart || *skip != "") && (*master || *server != "") {
		return &usageError{"-restart and -skip are for the launcher, not with -master or -server"}
	}
	cfg, err := cluster.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if err := apps.Check(cfg); err != nil {
		return fmt.Errorf("%s: %w", *configPath, err)
	}
	switch {
	case *master:
		log := lf.logger("master")
		m, err := cluster.NewMaster(cfg, append(opts, cluster.WithLogger(log))...)
		if err != nil {
			return err
		}
		return m.Run(ctx)
	case *server != "":
		sc, err := cfg.Server(*server)
		if err != nil {
			return err
		}
		app := apps.For(sc)
		log := lf.logger(*server)
		if app == nil {
			log.Info("no app for this server: it runs without services of its own")
		}
		s, err := cluster.NewServer(cfg, *server, withFrontend(app, log), append(opts, cluster.WithLogger(log))...)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	}
	var childArgs []string
	childArgs = append(childArgs, lf.args()...)
	if *dns != "" {
		childArgs = append(childArgs, "-dns", *dns)
	}
	if *introspect {
		childArgs = append(childArgs, "-introspect")
	}
	names := append([]string{"master"}, cfg.ServerNames()...)
	if *skip != "" {
		for _, n := range strings.Split(*skip, ",") {
			if _, err := cfg.Server(n); err != nil {
				return &usageError{fmt.Sprintf("-skip %q: no server of that name in %s", n, *configPath)}
			}
			names = slices.DeleteFunc(names, func(m string) bool { return m == n })
		}
	}
	return launch(ctx, *configPath, names, childArgs, *restart)
}

// resolverAt returns a resolver that asks only the DNS server at addr.
func resolverAt(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// logFlags are the flags that choose what a process logs: warnings and
// errors by default, the cluster's Info lines with -v, debug lines with
// -debug.
type logFlags struct{ verbose, debug *bool }

func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{
		verbose: fs.Bool("v", false, "log what the cluster does (servers joining, orders), not only warnings and errors"),
		debug:   fs.Bool("debug", false, "debug logs too (each failed attempt to connect)"),
	}
}

// args returns the flags to pass on to a child.
func (f logFlags) args() []string {
	var a []string
	if *f.verbose {
		a = append(a, "-v")
	}
	if *f.debug {
		a = append(a, "-debug")
	}
	return a
}

func (f logFlags) logger(name string) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case *f.debug:
		level = slog.LevelDebug
	case *f.verbose:
		level = slog.LevelInfo
	}
	return logger(level, name)
}

// logger logs to stderr from level up, without timestamps (a launcher
// prefixes each line with the process's name).
func logger(level slog.Level, name string) *slog.Logger {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return slog.New(h).With("proc", name)
}
