package cluster

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
)

// ErrAdmin reports an admin request that the master refused or that failed
// on some servers; the error text says which.
var ErrAdmin = errors.New("cluster: admin request failed")

// Handler returns the master's admin endpoints (Firefly's webapp), which
// answer with JSON:
//
//	POST /stop          StopAll: every server runs its stop hook and exits,
//	                    then the master exits (Run returns); an AdminResult
//	POST /reloadmodule  ReloadAll: every server runs its reload hook; an
//	                    AdminResult
//	GET  /status        the remote map, read-only: {"gate": {"host":
//	GET  /              "10.0.0.2", "roots": []}, ...}
//	GET  /cluster       each joined server's ServerStatus, as it answers
//	                    serverStatus (ClusterStatus)
//	GET  /healthz       200 {"status": "ok"}: the master is up
//	GET  /readyz        200: the master serves (it is ready once it runs)
//
// Other methods get 405. When the config has a "security" section, the POST
// endpoints also need the admin token (Config.AdminToken) as "Authorization:
// Bearer <token>" (401 without it). Whatever the config, the handler refuses
// (403) a POST that a browser sends from another site's page, and any
// request whose Host is neither an IP address, localhost, nor the master's
// webhost or roothost (a DNS name rebound to the master's address).
//
// A command that failed on some servers answers 502 with the AdminResult
// naming them; a stop while stopping answers 409.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stop", m.authorized(func(w http.ResponseWriter, r *http.Request) {
		res, err := m.StopAll(r.Context())
		writeResult(w, res, err)
	}))
	mux.HandleFunc("POST /reloadmodule", m.authorized(func(w http.ResponseWriter, r *http.Request) {
		res, err := m.ReloadAll(r.Context())
		writeResult(w, res, err)
	}))
	status := func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, m.RemoteMap()) }
	mux.HandleFunc("GET /status", status)
	mux.HandleFunc("GET /{$}", status)
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.ClusterStatus(r.Context()))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "server": "master"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"ready": true, "server": "master", "servers": len(m.RemoteMap())})
	})
	return m.knownHost(http.NewCrossOriginProtection().Handler(mux))
}

// authorized wraps h with the check of the admin token, when the master has
// one.
func (m *Master) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if m.adminToken != nil {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), m.adminToken) != 1 {
				m.log.Warn("cluster: admin request refused: no valid token", "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="firefly admin"`)
				http.Error(w, "admin token required", http.StatusUnauthorized)
				return
			}
		}
		h(w, r)
	}
}

// knownHost wraps h with the check of the request's Host: an IP address,
// localhost, or the master's webhost or roothost.
func (m *Master) knownHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
		mc := m.cfg.Master
		ok := net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") ||
			mc.WebHost != "" && strings.EqualFold(host, mc.WebHost) ||
			mc.RootHost != "" && strings.EqualFold(host, mc.RootHost)
		if !ok {
			m.log.Warn("cluster: admin request refused: unknown Host", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "unknown host", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeResult(w http.ResponseWriter, res *AdminResult, err error) {
	switch {
	case errors.Is(err, ErrMasterClosed):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil && res == nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
	case err != nil:
		writeJSON(w, http.StatusBadGateway, res)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Stop asks the master whose admin endpoints are at addr (host:port, see
// Config.AdminAddr) to stop every server and exit, and returns what it
// answered once the servers are stopped. A secured cluster's master needs
// WithAdminToken.
func Stop(ctx context.Context, addr string, opts ...Option) (*AdminResult, error) {
	var res AdminResult
	if err := adminRequest(ctx, http.MethodPost, addr, "/stop", opts, &res); err != nil {
		return &res, err
	}
	return &res, nil
}

// Reload asks the master at addr to run every server's reload hook. A
// secured cluster's master needs WithAdminToken.
func Reload(ctx context.Context, addr string, opts ...Option) (*AdminResult, error) {
	var res AdminResult
	if err := adminRequest(ctx, http.MethodPost, addr, "/reloadmodule", opts, &res); err != nil {
		return &res, err
	}
	return &res, nil
}

// Status returns the remote map of the master at addr.
func Status(ctx context.Context, addr string, opts ...Option) (map[string]Remote, error) {
	var res map[string]Remote
	if err := adminRequest(ctx, http.MethodGet, addr, "/status", opts, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// adminRequest sends method path to the admin endpoints at addr and
// decodes the JSON answer into v.
func adminRequest(ctx context.Context, method, addr, path string, opts []Option, v any) error {
	o := newOptions(opts)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("cluster: admin %s: %w", path, err)
	}
	if o.adminToken != nil {
		req.Header.Set("Authorization", "Bearer "+string(o.adminToken))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cluster: admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("cluster: admin %s: %w", path, err)
	}
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if isJSON {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("cluster: admin %s: %w", path, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if res, ok := v.(*AdminResult); ok && isJSON && len(res.Errors) > 0 {
			msg = formatErrors(res.Errors)
		}
		return fmt.Errorf("%w: %s: %s: %s", ErrAdmin, path, resp.Status, msg)
	}
	return nil
}

func formatErrors(errs map[string]string) string {
	var b strings.Builder
	for i, name := range sortedKeys(errs) {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", name, errs[name])
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
