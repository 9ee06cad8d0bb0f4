package cluster

import (
	"reflect"
	"testing"
)

func entry(id uint64, host string, roots ...string) *remoteEntry {
	return &remoteEntry{Remote: Remote{Host: host, Roots: roots}, id: id, via: "10.0.0.1"}
}

func TestRemoteMapRootFirst(t *testing.T) {
	var rm remoteMap
	if got := rm.join("gate", entry(1, "10.0.0.2")); len(got) != 0 {
		t.Errorf("gate joins an empty map: orders %v", got)
	}
	// net joins after its root: it is told to join gate at gate's host.
	got := rm.join("net", entry(2, "10.0.0.3", "gate"))
	want := []order{{"net", "gate", "10.0.0.2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
}

func TestRemoteMapNodesFirst(t *testing.T) {
	var rm remoteMap
	rm.join("net", entry(1, "10.0.0.3", "gate"))
	rm.join("game1", entry(2, "10.0.0.4", "gate", "chat"))
	rm.join("dbfront", entry(3, "10.0.0.5"))
	// gate joins last: every server that wants it is told gate's host (not
	// its own, which Firefly sent).
	got := rm.join("gate", entry(4, "10.0.0.2"))
	want := []order{{"game1", "gate", "10.0.0.2"}, {"net", "gate", "10.0.0.2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
	// game1's second root.
	got = rm.join("chat", entry(5, "10.0.0.6"))
	want = []order{{"game1", "chat", "10.0.0.6"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
}

func TestRemoteMapLossAndRejoin(t *testing.T) {
	var rm remoteMap
	rm.join("gate", entry(1, "10.0.0.2"))
	rm.join("net", entry(2, "10.0.0.3", "gate"))
	if !rm.leave("gate", 1) {
		t.Fatal("gate not forgotten")
	}
	if _, ok := rm.snapshot()["gate"]; ok {
		t.Fatal("gate still in the map")
	}
	// A server that joined no root after gate left is told nothing about it.
	if got := rm.join("game1", entry(3, "10.0.0.4", "gate")); len(got) != 0 {
		t.Errorf("orders = %v, want none", got)
	}
	// gate comes back on another host: both nodes are told the new host.
	got := rm.join("gate", entry(4, "10.0.0.9"))
	want := []order{{"game1", "gate", "10.0.0.9"}, {"net", "gate", "10.0.0.9"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
	// The loss of a replaced entry forgets nothing.
	rm.join("net", entry(5, "10.0.0.3", "gate"))
	if rm.leave("net", 2) {
		t.Error("the stale net entry removed the new one")
	}
	if !rm.leave("net", 5) || rm.leave("net", 5) {
		t.Error("leave of the current entry")
	}
}

func TestRemoteMapRebuiltAfterMasterRestart(t *testing.T) {
	// A new master starts empty; the servers join again in any order and
	// the orders repeat what they were told before (which they ignore when
	// joined already).
	var rm remoteMap
	var all []order
	all = append(all, rm.join("game2", entry(1, "10.0.0.5", "gate"))...)
	all = append(all, rm.join("gate", entry(2, "10.0.0.2"))...)
	all = append(all, rm.join("net", entry(3, "10.0.0.3", "gate"))...)
	all = append(all, rm.join("game1", entry(4, "10.0.0.4", "gate"))...)
	want := []order{{"game2", "gate", "10.0.0.2"}, {"net", "gate", "10.0.0.2"}, {"game1", "gate", "10.0.0.2"}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("orders = %v, want %v", all, want)
	}
	snap := rm.snapshot()
	if len(snap) != 4 || snap["game1"].Host != "10.0.0.4" || !reflect.DeepEqual(snap["net"].Roots, []string{"gate"}) {
		t.Errorf("map = %v", snap)
	}
}

func TestRemoteMapLoopbackRoot(t *testing.T) {
	var rm remoteMap
	// gate runs beside the master and reached it over loopback.
	rm.join("gate", &remoteEntry{Remote: Remote{Host: "127.0.0.1"}, id: 1, via: "127.0.0.1"})
	// net, on another machine, reaches the master at 10.0.0.1: gate is
	// there too.
	got := rm.join("net", &remoteEntry{Remote: Remote{Host: "10.0.0.3", Roots: []string{"gate"}}, id: 2, via: "10.0.0.1"})
	if want := []order{{"net", "gate", "10.0.0.1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
	// game1, also beside the master, gets loopback as it is.
	got = rm.join("game1", &remoteEntry{Remote: Remote{Host: "::1", Roots: []string{"gate"}}, id: 3, via: "::1"})
	if want := []order{{"game1", "gate", "127.0.0.1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("orders = %v, want %v", got, want)
	}
}
