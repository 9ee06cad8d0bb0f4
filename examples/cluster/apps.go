// Package examplecluster is a small Firefly cluster: a gate root, a net
// front end and two game nodes, with a demo service on each, run from
// config.json beside this file.
//
// A player's request enters at net (a game client on its netport, speaking
// Firefly's datapack protocol: package netconnect), goes to gate, which
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

	"github.com/fireflyrpc/firefly/rpc/cluster"
	"github.com/fireflyrpc/firefly/rpc/netconnect"
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

// The example's client commands.
const (
	// CmdAsk asks a game for a welcome: body "game1 alice"; the reply is
	// the trip, "net -> gate -> game1 -> gate -> net: game1 welcomes alice".
	CmdAsk = 1001
	// CmdShout makes the gate push the body to every connected client,
	// with command TopicShout; the reply is "pushed".
	CmdShout = 1002
	// TopicShout is the command of CmdShout's pushes.
	TopicShout = 2001
)

// gate is the root: the front-end forwards every client packet to it, and
// it hands CmdAsk to the game node named in the body.
func gate(w io.Writer, s *cluster.Server) error {
	hooks(w, s)
	// ask lets a node, or an operator with "firefly call -target ask",
	// ask a game directly: "gate -> game2 -> gate: game2 welcomes bob".
	if err := s.Root().Service().Map("ask", func(ctx context.Context, game, player string) (string, error) {
		t := Trip{Route: []string{s.Name()}, Player: player}
		var out Trip
		if err := s.Root().CallChild(ctx, game, "handle", &out, t); err != nil {
			return "", err
		}
		out.Route = append(out.Route, s.Name())
		return out.String(), nil
	}); err != nil {
		return err
	}
	g := netconnect.NewGate(s.Root())
	// frontendStats shows an operator a front-end's counters (sessions,
	// packets, bytes, closes by reason): "firefly call -target
	// frontendStats -args '["net"]'" at the gate.
	if err := s.Root().Service().Map("frontendStats", g.Stats); err != nil {
		return err
	}
	return g.HandleForwarding(func(ctx context.Context, f netconnect.Forwarded) ([]byte, error) {
		switch f.Command {
		case CmdAsk:
			game, player, ok := strings.Cut(string(f.Data), " ")
			if !ok {
				return nil, fmt.Errorf("command %d wants a body \"game player\", got %q", f.Command, f.Data)
			}
			t := Trip{Route: []string{f.Net, s.Name()}, Player: player}
			var out Trip
			if err := s.Root().CallChild(ctx, game, "handle", &out, t); err != nil {
				return nil, err
			}
			out.Route = append(out.Route, s.Name(), f.Net)
			return []byte(out.String()), nil
		case CmdShout:
			if err := g.Broadcast(ctx, f.Net, TopicShout, f.Data); err != nil {
				return nil, err
			}
			return []byte("pushed"), nil
		}
		return nil, fmt.Errorf("no command %d", f.Command)
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

func games(cfg *cluster.Config) []string {
	var names []string
	for _, name := range cfg.ServerNames() {
		if cfg.Servers[name].App == "game" {
			names = append(names, name)
		}
	}
	return slices.Clip(names)
}

// front is net. The binary that runs the cluster serves the client
// front-end on its netport (netconnect.ClusterApp); once the cluster is
// up, net connects to it as a client and asks every game once, to show
// the route.
func front(ctx context.Context, w io.Writer, s *cluster.Server) error {
	hooks(w, s)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Config().NetPort))
	go func() {
		for _, g := range games(s.Cluster()) {
			for ctx.Err() == nil {
				line, err := askOnce(ctx, addr, g, "alice")
				if err == nil {
					fmt.Fprintln(w, line)
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

// askOnce sends CmdAsk for player to game through the front-end at addr.
func askOnce(ctx context.Context, addr, game, player string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := netconnect.Dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := c.Request(ctx, CmdAsk, []byte(game+" "+player))
	return string(reply), err
}
