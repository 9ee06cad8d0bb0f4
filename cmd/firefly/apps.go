package main

import (
	"os"

	examplecluster "github.com/fireflyrpc/firefly/examples/cluster"
	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// apps are the applications this binary can run, by server name or by the
// config's "app" key (cluster.Apps.For). Go loads no code at run time: to
// run your own game, add its apps here (or build a binary of your own on
// package cluster: cluster.NewServer(cfg, name, app).Run(ctx)).
var apps cluster.Apps = examplecluster.Apps(os.Stdout)
