package main

import (
	"os"

	examplecluster "github.com/fireflyrpc/firefly/examples/cluster"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// apps are the applications this binary can run, by the config's "app" key
// or, for a server without one, by server name (cluster.Apps.For); an "app"
// naming none of them is a config error at startup. Go loads no code at run time: to
// run your own game, add its apps here (or build a binary of your own on
// package cluster: cluster.NewServer(cfg, name, app).Run(ctx)).
var apps cluster.Apps = examplecluster.Apps(os.Stdout)
