package dnstest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
)

func TestResponder(t *testing.T) {
	s, err := Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("gate.game.test", Record{IP: "10.1.2.3"}, Record{IP: "fd00::1"})
	s.Set("_gate._tcp.game.test", Record{Target: "gate.game.test.", Port: 10000, Priority: 1})
	r := Resolver(s.Addr())
	ctx := context.Background()

	ips, err := r.LookupHost(ctx, "gate.game.test.")
	slices.Sort(ips)
	if err != nil || !slices.Equal(ips, []string{"10.1.2.3", "fd00::1"}) {
		t.Fatalf("LookupHost = %v, %v", ips, err)
	}
	_, srvs, err := r.LookupSRV(ctx, "", "", "_gate._tcp.game.test.")
	if err != nil || len(srvs) != 1 || srvs[0].Target != "gate.game.test." || srvs[0].Port != 10000 {
		t.Fatalf("LookupSRV = %v, %v", srvs, err)
	}
	_, err = r.LookupHost(ctx, "nothing.game.test.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("LookupHost of a missing name = %v, want not found", err)
	}

	// A zone file, read for each query.
	path := filepath.Join(t.TempDir(), "zone.json")
	f, err := Start("127.0.0.1:0", path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
		if err := WriteZone(path, Zone{"moving.test": {{IP: ip}}}); err != nil {
			t.Fatal(err)
		}
		got, err := Resolver(f.Addr()).LookupHost(ctx, "moving.test.")
		if err != nil || !slices.Equal(got, []string{ip}) {
			t.Fatalf("from the zone file: %v, %v; want %s", got, err, ip)
		}
	}
}
