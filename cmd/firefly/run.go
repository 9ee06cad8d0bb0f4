package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// runCluster is "firefly [-config FILE] [-master | -server NAME]".
func runCluster(ctx context.Context, args []string) error {
	fs := newFlags("")
	configPath := fs.String("config", "config.json", "the cluster's config `file`")
	master := fs.Bool("master", false, "run only the master")
	server := fs.String("server", "", "run only the server called `name`")
	verbose := fs.Bool("v", false, "debug logs")
	restart := fs.Bool("restart", false, "when a server (or the master) fails, restart it with backoff instead of stopping every server")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *master && *server != "" {
		return &usageError{"-master and -server exclude each other"}
	}
	if *restart && (*master || *server != "") {
		return &usageError{"-restart is for the launcher, not with -master or -server"}
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
		log := logger(*verbose, "master")
		m, err := cluster.NewMaster(cfg, cluster.WithLogger(log))
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
		log := logger(*verbose, *server)
		if app == nil {
			log.Info("no app for this server: it runs without services of its own")
		}
		s, err := cluster.NewServer(cfg, *server, withFrontend(app, log), cluster.WithLogger(log))
		if err != nil {
			return err
		}
		return s.Run(ctx)
	}
	return launch(ctx, *configPath, cfg, *verbose, *restart)
}

// logger logs to stderr at Info (Debug with -v), without timestamps (a
// launcher prefixes each line with the process's name).
func logger(verbose bool, name string) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
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
