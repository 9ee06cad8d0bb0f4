package main

import (
	"log/slog"

	"github.com/fireflyrpc/firefly/rpc/cluster"
	"github.com/fireflyrpc/firefly/rpc/netconnect"
)

// withFrontend extends app so that a server with a netport in the config
// also serves game clients there, Firefly's datapack front-end forwarding
// to its gate (netconnect.ClusterApp), logging to log.
func withFrontend(app cluster.App, log *slog.Logger) cluster.App {
	return netconnect.ClusterApp(app, netconnect.WithLogger(log))
}
