package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// Firefly's config.json is read as it is; keys the cluster does not use are
// kept for the applications.
func ExampleParseConfig() {
	cfg, err := cluster.ParseConfig([]byte(`{
		"master": {"roothost": "localhost", "rootport": 9999, "webport": 9998},
		"servers": {
			"gate": {"rootport": 10000, "name": "gate", "app": "app.gateserver", "db": true},
			"net": {"netport": 11009, "remoteport": [{"rootport": 10000, "rootname": "gate"}]},
			"game1": {"remoteport": [{"rootport": 10000, "rootname": "gate"}], "reload": "app.game.doreload"}
		},
		"db": {"host": "localhost", "port": 3306}
	}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("master at", cfg.MasterAddr(), "admin at", cfg.AdminAddr())
	for _, name := range cfg.ServerNames() {
		fmt.Println(name, "joins", cfg.Roots(name))
	}
	fmt.Println("gate's db key:", string(cfg.Servers["gate"].Raw["db"]))
	fmt.Println("db section:", string(cfg.Section("db")))

	_, err = cluster.ParseConfig([]byte(`{
		"master": {"rootport": 9999},
		"servers": {"net": {"netport": 9999, "remoteport": [{"rootname": "gaet"}]}}
	}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, cluster.ErrUnknownRoot), errors.Is(err, cluster.ErrPortReused))
	// Output:
	// master at localhost:9999 admin at 127.0.0.1:9998
	// game1 joins [gate]
	// gate joins []
	// net joins [gate]
	// gate's db key: true
	// db section: {"host": "localhost", "port": 3306}
	// cluster: invalid config
	// 	server "net": remoteport[0]: rootname "gaet" names no server
	// 	port 9999 used 2 times: master.rootport, servers.net.netport
	// true true
}

// A cluster in one process: the master, a gate (root) and a game node that
// joins the gate when the master says where it is. In production each server
// is its own process (see cmd/firefly); the code is the same.
func ExampleServer() {
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	cfg, err := cluster.ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {
			"gate": {"rootport": %d},
			"game1": {"remoteport": [{"rootname": "gate"}]}
		}}`, ports[0], ports[1], ports[2]))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	master, err := cluster.NewMaster(cfg)
	if err != nil {
		log.Fatal(err)
	}
	go master.Run(ctx)

	apps := cluster.Apps{
		// The gate's service answers "hello" by asking game1.
		"gate": func(ctx context.Context, s *cluster.Server) error {
			return s.Root().Service().Map("hello", func(ctx context.Context, who string) (string, error) {
				var greeting string
				err := s.Root().CallChild(ctx, "game1", "greet", &greeting, who)
				return greeting, err
			})
		},
		// game1 serves the gate through its node to it.
		"game1": func(ctx context.Context, s *cluster.Server) error {
			return s.NodeService("gate").Map("greet", func(who string) string { return "game1 greets " + who })
		},
	}
	game, err := cluster.NewServer(cfg, "game1", apps["game1"])
	if err != nil {
		log.Fatal(err)
	}
	gate, err := cluster.NewServer(cfg, "gate", apps["gate"])
	if err != nil {
		log.Fatal(err)
	}
	go game.Run(ctx)
	go gate.Run(ctx)

	// game1 calls the gate (once the master has told it where the gate is),
	// and the gate calls game1 back.
	for {
		var s string
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		err := game.CallRemote(cctx, "gate", "hello", &s, "alice")
		ccancel()
		if err == nil {
			fmt.Println(s)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Output:
	// game1 greets alice
}
