package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

func TestLoadFireflySample(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("testdata", "firefly_sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.ServerNames(), []string{"admin", "dbfront", "game1", "gate", "net"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ServerNames = %v, want %v", got, want)
	}
	m := cfg.Master
	if m.RootHost != "localhost" || m.RootPort != 9999 || m.WebPort != 9998 {
		t.Errorf("master = %+v", m)
	}
	if got := cfg.MasterAddr(); got != "localhost:9999" {
		t.Errorf("MasterAddr = %q", got)
	}
	if got := cfg.AdminAddr(); got != "127.0.0.1:9998" {
		t.Errorf("AdminAddr = %q (loopback by default)", got)
	}
	gate := cfg.Servers["gate"]
	if gate.Name != "gate" || gate.RootPort != 10000 || gate.App != "app.gateserver" || gate.Log != "app/logs/gate.log" {
		t.Errorf("gate = %+v", gate)
	}
	net := cfg.Servers["net"]
	if net.NetPort != 11009 || !reflect.DeepEqual(net.RemotePort, []RemotePort{{RootName: "gate", RootPort: 10000}}) {
		t.Errorf("net = %+v", net)
	}
	if got := cfg.Roots("game1"); !reflect.DeepEqual(got, []string{"gate"}) {
		t.Errorf("Roots(game1) = %v", got)
	}
	if got := cfg.Roots("dbfront"); len(got) != 0 {
		t.Errorf("Roots(dbfront) = %v", got)
	}
	// Keys the cluster does not use are kept.
	game1 := cfg.Servers["game1"]
	for key, want := range map[string]string{"db": "true", "mem": "true", "reload": `"app.game.doreload"`, "cpu": "1", "name": `"game1"`} {
		if got := string(game1.Raw[key]); got != want {
			t.Errorf("game1.Raw[%q] = %s, want %s", key, got, want)
		}
	}
	if got := string(m.Raw["roothost"]); got != `"localhost"` {
		t.Errorf("master.Raw[roothost] = %s", got)
	}
	// Top-level sections are left to applications.
	var db struct {
		Host string
		Port int
		DB   string `json:"db"`
	}
	if err := json.Unmarshal(cfg.Section("db"), &db); err != nil || db.Host != "localhost" || db.Port != 3306 || db.DB != "anheisg" {
		t.Errorf("db section = %+v, %v", db, err)
	}
	var mc struct{ URLs []string }
	if err := json.Unmarshal(cfg.Section("memcached"), &mc); err != nil || !reflect.DeepEqual(mc.URLs, []string{"127.0.0.1:11211"}) {
		t.Errorf("memcached section = %+v, %v", mc, err)
	}
	if cfg.Section("nope") != nil {
		t.Error("Section of a missing key is not nil")
	}
	if _, err := cfg.Server("nope"); !errors.Is(err, ErrUnknownServer) {
		t.Errorf("Server(nope) = %v", err)
	}
}

func TestConfigDefaultsAndExtensions(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
		"master": {"rootport": 9999, "webport": 9998, "webhost": "0.0.0.0", "future": [1, 2]},
		"servers": {
			"gate": {"rootport": 10000, "whatever": {"nested": true}},
			"game1": {"remoteport": [{"rootname": "gate"}]}
		},
		"extra": 42
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.MasterAddr(); got != "localhost:9999" {
		t.Errorf("MasterAddr = %q", got)
	}
	if got := cfg.AdminAddr(); got != "0.0.0.0:9998" {
		t.Errorf("AdminAddr = %q", got)
	}
	// A remoteport without a rootport dials the root's.
	if port, ok := cfg.rootPort(cfg.Servers["game1"], "gate"); !ok || port != 10000 {
		t.Errorf("rootPort = %d, %v", port, ok)
	}
	if string(cfg.Section("extra")) != "42" {
		t.Errorf("extra = %s", cfg.Section("extra"))
	}
	noWeb, err := ParseConfig([]byte(`{"master": {"rootport": 9999}}`))
	if err != nil {
		t.Fatal(err)
	}
	if noWeb.AdminAddr() != "" || len(noWeb.Servers) != 0 {
		t.Errorf("AdminAddr = %q, servers %v", noWeb.AdminAddr(), noWeb.Servers)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		sentinel error
		want     string // the whole error text
	}{
		{
			"no master",
			`{"servers": {"gate": {"rootport": 10000}}}`,
			ErrNoMaster,
			`cluster: invalid config: no "master" section`,
		},
		{
			"master without rootport",
			`{"master": {"webport": 9998}}`,
			ErrNoMaster,
			`cluster: invalid config: master: no rootport`,
		},
		{
			"unknown root",
			`{"master": {"rootport": 9999}, "servers": {"gate": {"rootport": 10000},
			  "net": {"remoteport": [{"rootname": "gate", "rootport": 10000}, {"rootname": "gaet", "rootport": 10000}]}}}`,
			ErrUnknownRoot,
			`cluster: invalid config: server "net": remoteport[1]: rootname "gaet" names no server`,
		},
		{
			"root without rootport",
			`{"master": {"rootport": 9999}, "servers": {"db": {}, "net": {"remoteport": [{"rootname": "db"}]}}}`,
			ErrUnknownRoot,
			`cluster: invalid config: server "net": remoteport[0]: root "db" has no rootport`,
		},
		{
			"own root",
			`{"master": {"rootport": 9999}, "servers": {"gate": {"rootport": 10000, "remoteport": [{"rootname": "gate"}]}}}`,
			ErrUnknownRoot,
			`cluster: invalid config: server "gate": remoteport[0]: rootname "gate" is the server itself`,
		},
		{
			"empty rootname",
			`{"master": {"rootport": 9999}, "servers": {"net": {"remoteport": [{"rootport": 10000}]}}}`,
			ErrUnknownRoot,
			`cluster: invalid config: server "net": remoteport[0]: no rootname`,
		},
		{
			"rootport differs from the root's",
			`{"master": {"rootport": 9999}, "servers": {"gate": {"rootport": 10000}, "net": {"remoteport": [{"rootname": "gate", "rootport": 10001}]}}}`,
			ErrBadPort,
			`cluster: invalid config: server "net": remoteport[0]: rootport 10001 is not root "gate"'s rootport 10000`,
		},
		{
			"port out of range",
			`{"master": {"rootport": 99999}}`,
			ErrBadPort,
			`cluster: invalid config: master.rootport: port 99999 is out of range`,
		},
		{
			"port used twice",
			`{"master": {"rootport": 9999, "webport": 10000}, "servers": {"gate": {"rootport": 10000}, "net": {"netport": 10000}}}`,
			ErrPortReused,
			`cluster: invalid config: port 10000 used 3 times: master.webport, servers.gate.rootport, servers.net.netport`,
		},
		{
			"master port used by a server",
			`{"master": {"rootport": 9999}, "servers": {"game1": {"webport": 9999}}}`,
			ErrPortReused,
			`cluster: invalid config: port 9999 used 2 times: master.rootport, servers.game1.webport`,
		},
		{
			"unknown wire",
			`{"master": {"rootport": 9999}, "servers": {"gate": {"rootport": 10000, "wire": "PB"}}}`,
			ErrBadWire,
			`cluster: invalid config: server "gate": wire "PB" is neither "firefly" nor "pb"`,
		},
		{
			"PB wire with security",
			`{"master": {"rootport": 9999}, "servers": {"gate": {"rootport": 10000, "wire": "pb"}}, "security": {"secret_file": "s"}}`,
			ErrBadWire,
			`cluster: invalid config: server "gate": wire "pb": the PB wire carries no credentials, and the config has a security section`,
		},
		{
			"unknown master wire",
			`{"master": {"rootport": 9999, "wire": "twisted"}}`,
			ErrBadWire,
			`cluster: invalid config: master: wire "twisted" is neither "firefly" nor "pb"`,
		},
		{
			"PB master with security",
			`{"master": {"rootport": 9999, "wire": "pb"}, "security": {"secret_file": "s"}}`,
			ErrBadWire,
			`cluster: invalid config: master: wire "pb": the PB wire carries no credentials, and the config has a security section`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tt.want)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error does not match %v", tt.sentinel)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is %T, not a *ConfigError", err)
			}
		})
	}
}

func TestConfigEveryProblem(t *testing.T) {
	_, err := ParseConfig([]byte(`{"servers": {"gate": {"rootport": 10000, "netport": 10000},
		"net": {"remoteport": [{"rootname": "nobody"}]}}}`))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 3 {
		t.Fatalf("err = %v, want 3 problems", err)
	}
	want := "cluster: invalid config\n" +
		"\tno \"master\" section\n" +
		"\tserver \"net\": remoteport[0]: rootname \"nobody\" names no server\n" +
		"\tport 10000 used 2 times: servers.gate.rootport, servers.gate.netport"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	for _, s := range []error{ErrNoMaster, ErrUnknownRoot, ErrPortReused} {
		if !errors.Is(err, s) {
			t.Errorf("%v not reported", s)
		}
	}
}

func TestConfigJSONErrors(t *testing.T) {
	for _, in := range []string{`{`, `[]`, `{"master": {"rootport": "9999"}}`, `{"servers": {"gate": {"remoteport": {}}}}`} {
		_, err := ParseConfig([]byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), "cluster: config") {
			t.Errorf("ParseConfig(%s) = %v", in, err)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
}

// TestLoadFireflyShapes loads the shapes real Firefly games shipped: a
// root that also faces clients (rootport and netport), nodes of two roots,
// top-level db and memcached sections, and per-server db, mem, log, app,
// cpu and reload keys (a cpu list, a null log). All load unchanged, and
// apps read the keys the cluster does not use.
func TestLoadFireflyShapes(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("testdata", "firefly_shapes.json"))
	if err != nil {
		t.Fatal(err)
	}
	gate := cfg.Servers["gate"]
	if gate.RootPort != 10000 || gate.NetPort != 11009 || gate.App != "app.gateserver" || gate.Log != "app/logs/gate.log" {
		t.Errorf("gate = %+v", gate)
	}
	two := []RemotePort{{RootName: "gate", RootPort: 10000}, {RootName: "dbfront", RootPort: 10001}}
	for _, name := range []string{"game1", "admin"} {
		if got := cfg.Servers[name].RemotePort; !reflect.DeepEqual(got, two) {
			t.Errorf("%s remoteport = %+v", name, got)
		}
		if got := cfg.Roots(name); !reflect.DeepEqual(got, []string{"gate", "dbfront"}) {
			t.Errorf("Roots(%s) = %v", name, got)
		}
	}
	for _, root := range []string{"gate", "dbfront"} {
		if port, ok := cfg.rootPort(cfg.Servers["game1"], root); !ok || port != cfg.Servers[root].RootPort {
			t.Errorf("game1 dials %s at %d, %v", root, port, ok)
		}
	}
	if got := cfg.Servers["admin"].WebPort; got != 2012 {
		t.Errorf("admin webport = %d", got)
	}
	// Per-server keys the cluster does not use, as apps read them.
	game1, game2 := cfg.Servers["game1"], cfg.Servers["game2"]
	var db, mem bool
	var cpu int
	var reload string
	if err := game1.Decode("db", &db); err != nil || !db {
		t.Errorf("game1 db = %v, %v", db, err)
	}
	if err := game1.Decode("mem", &mem); err != nil || !mem {
		t.Errorf("game1 mem = %v, %v", mem, err)
	}
	if err := game1.Decode("cpu", &cpu); err != nil || cpu != 1 {
		t.Errorf("game1 cpu = %v, %v", cpu, err)
	}
	if err := game1.Decode("reload", &reload); err != nil || reload != "app.game.doreload" {
		t.Errorf("game1 reload = %q, %v", reload, err)
	}
	var cpus []int
	if err := game2.Decode("cpu", &cpus); err != nil || !reflect.DeepEqual(cpus, []int{2, 3}) {
		t.Errorf("game2 cpu = %v, %v", cpus, err)
	}
	if game2.Log != "" || string(game2.Raw["log"]) != "null" {
		t.Errorf("game2 log = %q, raw %s", game2.Log, game2.Raw["log"])
	}
	if err := game2.Decode("nope", &cpu); !errors.Is(err, ErrNoKey) {
		t.Errorf("Decode of a missing key = %v, want ErrNoKey", err)
	}
	// Top-level sections, as apps read them.
	var mc struct{ URLs []string }
	if err := cfg.DecodeSection("memcached", &mc); err != nil || len(mc.URLs) != 2 {
		t.Errorf("memcached = %+v, %v", mc, err)
	}
	var dbc struct {
		Host, User, Passwd, DB, Charset string
		Port                            int
	}
	if err := cfg.DecodeSection("db", &dbc); err != nil || dbc.Port != 3306 || dbc.Charset != "utf8" || dbc.DB != "anheisg" {
		t.Errorf("db = %+v, %v", dbc, err)
	}
	if err := cfg.DecodeSection("redis", &dbc); !errors.Is(err, ErrNoKey) {
		t.Errorf("DecodeSection of a missing section = %v, want ErrNoKey", err)
	}
}

// TestServerOfTwoRoots runs the shapes' cluster: game1 joins gate (a root
// with a netport too) and dbfront, and calls cross both ways on both.
func TestServerOfTwoRoots(t *testing.T) {
	p := testutil.FreePorts(t, 5)
	cfg, err := ParseConfig(fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d},
		"servers": {
			"gate": {"rootport": %d, "netport": %d, "name": "gate", "db": true, "mem": true, "app": "root", "cpu": 0},
			"dbfront": {"rootport": %d, "name": "dbfront", "app": "root"},
			"game1": {"remoteport": [{"rootport": %d, "rootname": "gate"}, {"rootname": "dbfront"}],
				"name": "game1", "db": true, "mem": true, "app": "game", "reload": "app.game.doreload", "log": "game1.log", "cpu": 1}
		},
		"db": {"host": "localhost"}, "memcached": {"urls": ["127.0.0.1:11211"]}}`, p[0], p[1], p[2], p[3], p[1]))
	if err != nil {
		t.Fatal(err)
	}
	root := func(ctx context.Context, s *Server) error {
		return s.Root().Service().Map("who", func() string { return s.Name() })
	}
	game := func(ctx context.Context, s *Server) error {
		var errs []error
		for _, r := range []string{"gate", "dbfront"} {
			errs = append(errs, s.NodeService(r).Map("hello", func() string { return s.Name() + " via " + r }))
		}
		return errors.Join(errs...)
	}
	startMaster(t, cfg)
	gate, _ := startServer(t, cfg, "gate", root)
	dbfront, _ := startServer(t, cfg, "dbfront", root)
	game1, _ := startServer(t, cfg, "game1", game)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, r := range []*Server{gate, dbfront} {
		var who string
		if err := game1.CallRemote(ctx, r.Name(), "who", &who); err != nil || who != r.Name() {
			t.Errorf("game1 -> %s: %q, %v", r.Name(), who, err)
		}
		for r.Root().Child("game1") == nil && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		var hello string
		if err := r.Root().CallChild(ctx, "game1", "hello", &hello); err != nil || hello != "game1 via "+r.Name() {
			t.Errorf("%s -> game1: %q, %v", r.Name(), hello, err)
		}
	}
}
