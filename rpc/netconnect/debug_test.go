package netconnect

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// TestDebugPageAndExpvar: the debug handler and the expvar variable show
// the server's counters (a session open, one closed by its client, a
// packet without a handler) and its limits.
func TestDebugPageAndExpvar(t *testing.T) {
	srv, addr := startServer(t, WithMaxSessions(7), WithIdleTimeout(time.Minute), WithRateLimit(50, 10))
	ctx := testutil.Context(t)
	a, b := dial(t, addr), dial(t, addr)
	if err := a.Send(ctx, 9, []byte("x")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	testutil.Eventually(t, "the packet and the close to be counted", func() bool {
		st := srv.Stats()
		return st.Errors["no_handler"] == 1 && st.Closed["client"] == 1
	})

	rec := httptest.NewRecorder()
	srv.DebugHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/netconnect", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	var page DebugPage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	st := page.Stats
	if st.Sessions != 1 || st.SessionsTotal != 2 || st.PacketsIn != 1 || st.Errors["no_handler"] != 1 || st.Closed["client"] != 1 {
		t.Fatalf("page's stats: %+v", st)
	}
	want := Limits{MaxSessions: 7, MaxBody: DefaultMaxBody, WriteQueue: DefaultWriteQueue, WriteTimeout: DefaultWriteTimeout,
		IdleTimeout: time.Minute, Rate: 50, Burst: 10}
	if page.Limits != want {
		t.Fatalf("page's limits %+v; want %+v", page.Limits, want)
	}

	var v Stats
	if err := json.Unmarshal([]byte(srv.Expvar().String()), &v); err != nil {
		t.Fatal(err)
	}
	if v.Sessions != 1 || v.SessionsTotal != 2 || v.Closed["client"] != 1 {
		t.Fatalf("expvar: %+v", v)
	}
}
