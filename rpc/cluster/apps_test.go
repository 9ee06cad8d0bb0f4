package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestAppsByKey: the "app" key, when there is one, names the app, and a
// name no app is registered under finds nothing (the server name does not
// stand in for a typo); without the key the server name does.
func TestAppsByKey(t *testing.T) {
	var ran string
	app := func(name string) App {
		return func(context.Context, *Server) error { ran = name; return nil }
	}
	apps := Apps{"gate": app("gate"), "game": app("game")}
	for _, tc := range []struct {
		sc   ServerConfig
		want string // "" for none
	}{
		{ServerConfig{Name: "game1", App: "game"}, "game"},
		{ServerConfig{Name: "gate"}, "gate"},
		{ServerConfig{Name: "gate", App: "game"}, "game"},
		{ServerConfig{Name: "gate", App: "gaet"}, ""},
		{ServerConfig{Name: "dbfront"}, ""},
	} {
		ran = ""
		if a := apps.For(&tc.sc); a != nil {
			a(context.Background(), nil)
		}
		if ran != tc.want {
			t.Errorf("For(%s, app %q) ran %q, want %q", tc.sc.Name, tc.sc.App, ran, tc.want)
		}
	}
}

func TestAppsCheck(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"master": {"rootport": 9999}, "servers": {
		"gate": {"rootport": 10000, "app": "gaet"},
		"game1": {"app": "game"}, "game2": {"app": "gmae"}, "dbfront": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	apps := Apps{"gate": nil, "game": func(context.Context, *Server) error { return nil }}
	apps["gate"] = apps["game"]
	err = apps.Check(cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnknownApp) || len(ce.Problems) != 2 {
		t.Fatalf("Check = %v, want two ErrUnknownApp problems", err)
	}
	for _, want := range []string{`server "game2": app "gmae": no such app (this binary has: game, gate)`, `server "gate": app "gaet"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %q, want it to say %q", err, want)
		}
	}
	delete(cfg.Servers, "gate")
	delete(cfg.Servers, "game2")
	if err := apps.Check(cfg); err != nil {
		t.Errorf("Check of a good config = %v", err)
	}
}
