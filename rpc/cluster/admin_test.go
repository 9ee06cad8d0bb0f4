package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fireflyrpc/firefly/internal/testutil"
)

// adminDo sends method path to web with the given headers and returns the
// status code.
func adminDo(t *testing.T, web *httptest.Server, method, path string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, web.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// notDone fails the test if the master stopped.
func notDone(t *testing.T, m *Master, after string) {
	t.Helper()
	select {
	case <-m.Done():
		t.Fatalf("the master stopped after %s", after)
	default:
	}
}

// TestAdminRefusesUnsafeRequests: stop and reload take POST only, and not
// from another site's page in a browser (nor through a DNS name that is not
// the master's); GET gives the status, read-only.
func TestAdminRefusesUnsafeRequests(t *testing.T) {
	cfg := testConfig(t)
	m, _ := startMaster(t, cfg)
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	for _, c := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{"GET", "/stop", nil, http.StatusMethodNotAllowed},
		{"GET", "/reloadmodule", nil, http.StatusMethodNotAllowed},
		{"POST", "/stop", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"POST", "/stop", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"POST", "/stop", map[string]string{"Host": "evil.example:9998"}, http.StatusForbidden},
		{"GET", "/status", nil, http.StatusOK},
		{"GET", "/", nil, http.StatusOK},
		{"POST", "/status", nil, http.StatusMethodNotAllowed},
	} {
		if got := adminDo(t, web, c.method, c.path, c.header); got != c.want {
			t.Errorf("%s %s %v: status %d, want %d", c.method, c.path, c.header, got, c.want)
		}
		notDone(t, m, c.method+" "+c.path)
	}
	// The CLI's way still works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Stop(ctx, strings.TrimPrefix(web.URL, "http://")); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// TestAdminNeedsCredential: with a security section, stop and reload need
// the admin token; the status does not.
func TestAdminNeedsCredential(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"cluster.secret": "a-long-random-cluster-secret-0123456789\n", "admin.token": "admin-token-0123456789abcdef\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := testutil.FreePorts(t, 3)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, fmt.Appendf(nil, `{
		"master": {"roothost": "127.0.0.1", "rootport": %d, "webport": %d},
		"servers": {"gate": {"rootport": %d}},
		"security": {"secret_file": "cluster.secret", "admin_token_file": "admin.token"}}`, p[0], p[1], p[2]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := startMaster(t, cfg)
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "admin-token-0123456789abcdef"}} {
		for _, path := range []string{"/stop", "/reloadmodule"} {
			if got := adminDo(t, web, "POST", path, h); got != http.StatusUnauthorized {
				t.Errorf("POST %s %v: status %d, want 401", path, h, got)
			}
			notDone(t, m, "POST "+path)
		}
	}
	if got := adminDo(t, web, "GET", "/status", nil); got != http.StatusOK {
		t.Errorf("GET /status: %d", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Stop(ctx, addr); !errors.Is(err, ErrAdmin) || !strings.Contains(err.Error(), "401") {
		t.Errorf("Stop without the token = %v, want ErrAdmin with 401", err)
	}
	token, err := cfg.AdminToken()
	if err != nil || string(token) != "admin-token-0123456789abcdef" {
		t.Fatalf("AdminToken = %q, %v", token, err)
	}
	if _, err := Reload(ctx, addr, WithAdminToken(token)); err != nil {
		t.Errorf("Reload with the token: %v", err)
	}
	if _, err := Stop(ctx, addr, WithAdminToken(token)); err != nil {
		t.Errorf("Stop with the token: %v", err)
	}
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the master did not stop")
	}
}
