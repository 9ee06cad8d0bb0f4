package rpc

import (
	"math/rand/v2"
	"testing"
)

// callIndex agrees with a plain multiset of calls through random adds and
// removes, with request ids that collide on purpose (few distinct ids, and
// ids a multiple of the table's size apart), and empties completely.
func TestCallIndex(t *testing.T) {
	t.Run("spread", func(t *testing.T) {
		testCallIndex(t, []uint64{1, 2, 3, 17, 33, 1 << 40, 5 << 40, 7}, 200)
	})
	// At most 7 calls keep the table at its first 16 slots; ids whose home
	// is one of its last two slots or its first make runs that wrap around.
	x := callIndex{shift: 64 - 4}
	var wrap []uint64
	for id := uint64(1); len(wrap) < 6; id++ {
		if h := x.home(id); h >= minCallIndex-2 || h == 0 {
			wrap = append(wrap, id)
		}
	}
	t.Run("wrapping", func(t *testing.T) { testCallIndex(t, wrap, 7) })
}

func testCallIndex(t *testing.T, ids []uint64, most int) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x callIndex
	held := map[*incall]bool{}
	check := func(step int) {
		t.Helper()
		if x.n != len(held) {
			t.Fatalf("step %d: %d calls held, want %d", step, x.n, len(held))
		}
		for _, id := range ids {
			want := 0
			for ic := range held {
				if ic.reqID == id {
					want++
				}
			}
			found := x.find(nil, id)
			if len(found) != want {
				t.Fatalf("step %d: find(%d) = %d calls, want %d", step, id, len(found), want)
			}
			for _, ic := range found {
				if !held[ic] || ic.reqID != id {
					t.Fatalf("step %d: find(%d) returned a call not held under it", step, id)
				}
			}
		}
	}
	for step := range 20000 {
		if len(held) < most && (len(held) == 0 || rng.IntN(2) == 0) {
			ic := &incall{reqID: ids[rng.IntN(len(ids))]}
			if most > minCallIndex && rng.IntN(4) == 0 {
				ic.reqID = rng.Uint64()
			}
			x.add(ic)
			held[ic] = true
		} else {
			for ic := range held { // some call held
				x.remove(ic)
				delete(held, ic)
				break
			}
		}
		if step%97 == 0 || most < minCallIndex {
			check(step)
		}
	}
	for ic := range held {
		x.remove(ic)
		delete(held, ic)
	}
	check(-1)
	for _, ic := range x.slots {
		if ic != nil {
			t.Fatal("a call left in the table after all were removed")
		}
	}
	x.remove(&incall{reqID: 1}) // not held: no effect
	check(-2)
}
