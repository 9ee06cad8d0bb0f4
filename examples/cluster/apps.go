// Package examplecluster is a small Firefly cluster: a gate root, a net
// front end and two game nodes, with a demo service on each, run from
// config.json beside this file.
//
// A player's request enters at net (on its netport), goes to gate, which
// hands it to the game node that owns it, and the answer comes back the same
// way; each hop signs the route:
//
//	net -> gate -> game1 -> gate -> net: game1 welcomes alice
//
// Go loads no code at run time, so the apps are compiled into the binary
// that runs the cluster: cmd/firefly registers Apps by the config's "app"
// key ("gate", "net", "game"). Start the whole cluster with
//
//	go run ./cmd/firefly -config examples/cluster/config.json
//
// and stop it with go run ./cmd/firefly stop -config examples/cluster/config.json.
package examplecluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fireflyrpc/firefly/rpc"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// Trip is a request on its way through the cluster and back.
type Trip struct {
	// Route lists the servers the trip went through, in order.
	Route []string
	// Player is who asks.
	Player string
	// Answer is the game's answer.
	Answer string
}

// String is the route and the answer: "net -> gate -> game1 -> gate ->
// net: game1 welcomes alice".
func (t Trip) String() string { return strings.Join(t.Route, " -> ") + ": " + t.Answer }

// Apps returns the cluster's applications by "app" key; they print what
// they do to w.
func Apps(w io.Writer) cluster.Apps {
	return cluster.Apps{
		"gate": func(ctx context.Context, s *cluster.Server) error { return gate(w, s) },
		"net":  func(ctx context.Context, s *cluster.Server) error { return front(ctx, w, s) },
		"game": func(ctx context.Context, s *cluster.Server) error { return game(w, s) },
	}
}

// hooks prints the stop and reload hooks as they run.
func hooks(w io.Writer, s *cluster.Server) {
	s.OnStop(func(context.Context) { fmt.Fprintf(w, "%s: stop hook ran\n", s.Name()) })
	s.OnReload(func(context.Context) error {
		fmt.Fprintf(w, "%s: reloaded\n", s.Name())
		return nil
	})
}

// gate is the root: its "forward" target hands a trip to a game node.
func gate(w io.Writer, s *cluster.Server) error {
	hooks(w, s)
	return s.Root().Service().Map("forward", func(ctx context.Context, game string, t Trip) (Trip, error) {
		t.Route = append(t.Route, s.Name())
		var out Trip
		if err := s.Root().CallChild(ctx, game, "handle", &out, t); err != nil {
			return Trip{}, err
		}
		out.Route = append(out.Route, s.Name())
		return out, nil
	})
}

// game is a game node: gate calls its "handle" target.
func game(w io.Writer, s *cluster.Server) error {
	hooks(w, s)
	return s.NodeService("gate").Map("handle", func(t Trip) Trip {
		t.Route = append(t.Route, s.Name())
		t.Answer = fmt.Sprintf("%s welcomes %s", s.Name(), t.Player)
		return t
	})
}

// Front is the root object net offers clients on its netport (a stand-in
// for Firefly's client protocol): any firefly client can call it.
type Front struct {
	s *cluster.Server
	w io.Writer
}

// RemoteAsk sends player's request to game through gate and returns the
// trip's route and answer; net prints it too.
func (f *Front) RemoteAsk(ctx context.Context, game, player string) (string, error) {
	var out Trip
	in := Trip{Route: []string{f.s.Name()}, Player: player}
	if err := f.s.CallRemote(ctx, "gate", "forward", &out, game, in); err != nil {
		return "", err
	}
	out.Route = append(out.Route, f.s.Name())
	line := out.String()
	fmt.Fprintln(f.w, line)
	return line, nil
}

// RemoteGames lists the game servers of the cluster.
func (f *Front) RemoteGames() []string { return games(f.s.Cluster()) }

func games(cfg *cluster.Config) []string {
	var names []string
	for _, name := range cfg.ServerNames() {
		if cfg.Servers[name].App == "game" {
			names = append(names, name)
		}
	}
	return slices.Clip(names)
}

// front is net: it serves Front on its netport and, once the cluster is
// up, asks every game once to show the route.
func front(ctx context.Context, w io.Writer, s *cluster.Server) error {
	hooks(w, s)
	f := &Front{s: s, w: w}
	// Introspection lets "firefly methods -addr" list what clients may call.
	srv, err := rpc.NewServer(f, rpc.WithIntrospection(true))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.Config().NetPort))
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	go func() {
		for _, g := range games(s.Cluster()) {
			for ctx.Err() == nil {
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := f.RemoteAsk(actx, g, "alice")
				cancel()
				if err == nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	return nil
}
