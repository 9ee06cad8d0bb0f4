package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// stopCluster is "firefly stop": the master's /stop.
func stopCluster(ctx context.Context, args []string) error {
	return admin(ctx, "stop", args, cluster.Stop)
}

// reloadCluster is "firefly reload": the master's /reloadmodule.
func reloadCluster(ctx context.Context, args []string) error {
	return admin(ctx, "reload", args, cluster.Reload)
}

func admin(ctx context.Context, name string, args []string, do func(context.Context, string, ...cluster.Option) (*cluster.AdminResult, error)) error {
	fs := newFlags(name)
	configPath := fs.String("config", "config.json", "the cluster's config `file`")
	addr := fs.String("addr", "", "the master's admin `host:port` (default: master.webhost:webport from the config)")
	tokenFile := fs.String("token-file", "", "the admin token's `file` (default: the config's, see its security section)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	var token []byte
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token = bytes.TrimSpace(b)
	}
	if *addr == "" || token == nil {
		cfg, err := cluster.LoadConfig(*configPath)
		switch {
		case err != nil && *addr == "":
			return err
		case err == nil && *addr == "":
			if *addr = adminAddr(cfg); *addr == "" {
				return fmt.Errorf("%s: the master has no webport", *configPath)
			}
		}
		if err == nil && token == nil {
			if token, err = cfg.AdminToken(); err != nil {
				return fmt.Errorf("%s: %w", *configPath, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var opts []cluster.Option
	if token != nil {
		opts = append(opts, cluster.WithAdminToken(token))
	}
	res, err := do(ctx, *addr, opts...)
	if res != nil && (len(res.Servers) > 0 || len(res.Errors) > 0) {
		out, _ := json.Marshal(res)
		fmt.Fprintf(os.Stdout, "%s: %s\n", name, out)
	}
	return err
}

// adminAddr is the config's admin address, with a wildcard webhost replaced
// by loopback.
func adminAddr(cfg *cluster.Config) string {
	switch cfg.Master.WebHost {
	case "0.0.0.0", "::", "[::]":
		c := *cfg.Master
		c.WebHost = ""
		return (&cluster.Config{Master: &c}).AdminAddr()
	}
	return cfg.AdminAddr()
}
