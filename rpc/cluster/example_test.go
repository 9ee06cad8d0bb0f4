package cluster_test

import (
	"errors"
	"fmt"
	"log"

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
