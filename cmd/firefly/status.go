package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// statusCommand is "firefly status": the cluster as the master sees it
// (its GET /cluster), with the config's servers that have not joined.
func statusCommand(ctx context.Context, args []string, w io.Writer) error {
	fs := newFlags("status")
	configPath := fs.String("config", "config.json", "the cluster's config `file`")
	addr := fs.String("addr", "", "the master's admin `host:port` (default: master.webhost:webport from the config)")
	asJSON := fs.Bool("json", false, "print the servers as JSON, for scripts")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cfg *cluster.Config
	if *addr == "" {
		var err error
		if cfg, err = cluster.LoadConfig(*configPath); err != nil {
			return err
		}
		if *addr = adminAddr(cfg); *addr == "" {
			return fmt.Errorf("%s: the master has no webport", *configPath)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sts, err := cluster.ClusterStatus(ctx, *addr)
	if err != nil {
		return err
	}
	if cfg != nil {
		sts = withMissing(cfg, sts)
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sts)
	}
	return printStatus(w, sts)
}

// withMissing adds a not-joined entry for each server of cfg that the
// master does not have, and keeps the order by name.
func withMissing(cfg *cluster.Config, sts []cluster.ServerStatus) []cluster.ServerStatus {
	have := make(map[string]cluster.ServerStatus, len(sts))
	for _, st := range sts {
		have[st.Server] = st
	}
	var out []cluster.ServerStatus
	for _, name := range cfg.ServerNames() {
		st, ok := have[name]
		if !ok {
			st = cluster.ServerStatus{Server: name, Error: "not joined to the master", Roots: []cluster.LinkStatus{}}
			for _, r := range cfg.Roots(name) {
				st.Roots = append(st.Roots, cluster.LinkStatus{Root: r})
			}
		}
		delete(have, name)
		out = append(out, st)
	}
	for _, st := range sts {
		if _, extra := have[st.Server]; extra {
			out = append(out, st) // joined, not in the config
		}
	}
	return out
}

// printStatus prints one line per server:
//
//	SERVER  HOST       READY  UPTIME  ROOT                           JOINS
//	gate    127.0.0.1  yes    1m4s    :10000 (game1, game2, net)     -
//	net     127.0.0.1  yes    1m4s    -                              gate at 127.0.0.1:10000
func printStatus(w io.Writer, sts []cluster.ServerStatus) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tHOST\tREADY\tUPTIME\tROOT (CHILDREN)\tJOINS")
	for _, st := range sts {
		ready := "no"
		if st.Ready {
			ready = "yes"
		}
		if st.Error != "" {
			ready = st.Error
		}
		host, uptime := orDash(st.Host), "-"
		if st.UptimeSeconds > 0 {
			uptime = (time.Duration(st.UptimeSeconds) * time.Second).String()
		}
		root := "-"
		if r := st.Root; r != nil {
			where := r.Addr
			if !r.Listening {
				where = "not listening"
			}
			root = fmt.Sprintf("%s (%s)", where, strings.Join(r.Children, ", "))
		}
		var joins []string
		for _, l := range st.Roots {
			switch {
			case l.Joined:
				joins = append(joins, l.Root+" at "+l.At)
			case st.Error != "":
				joins = append(joins, l.Root+"?")
			default:
				joins = append(joins, l.Root+" (not joined)")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Server, host, ready, uptime, root, orDash(strings.Join(joins, ", ")))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
