package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// ErrAdmin reports an admin request that the master refused or that failed
// on some servers; the error text says which.
var ErrAdmin = errors.New("cluster: admin request failed")

// Handler returns the master's admin endpoints (Firefly's webapp). Each
// answers GET or POST with JSON:
//
//	/stop          StopAll: every server runs its stop hook and exits, then
//	               the master exits (Run returns); an AdminResult
//	/reloadmodule  ReloadAll: every server runs its reload hook; an AdminResult
//	/status        the remote map: {"gate": {"host": "10.0.0.2", "roots": []}, ...}
//
// A command that failed on some servers answers 502 with the AdminResult
// naming them; a stop while stopping answers 409.
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/stop", func(w http.ResponseWriter, r *http.Request) {
		if !adminMethod(w, r) {
			return
		}
		res, err := m.StopAll(r.Context())
		writeResult(w, res, err)
	})
	mux.HandleFunc("/reloadmodule", func(w http.ResponseWriter, r *http.Request) {
		if !adminMethod(w, r) {
			return
		}
		res, err := m.ReloadAll(r.Context())
		writeResult(w, res, err)
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		if !adminMethod(w, r) {
			return
		}
		writeJSON(w, http.StatusOK, m.RemoteMap())
	})
	return mux
}

func adminMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", "GET, POST")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
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
// answered once the servers are stopped.
func Stop(ctx context.Context, addr string) (*AdminResult, error) {
	var res AdminResult
	if err := adminGet(ctx, addr, "/stop", &res); err != nil {
		return &res, err
	}
	return &res, nil
}

// Reload asks the master at addr to run every server's reload hook.
func Reload(ctx context.Context, addr string) (*AdminResult, error) {
	var res AdminResult
	if err := adminGet(ctx, addr, "/reloadmodule", &res); err != nil {
		return &res, err
	}
	return &res, nil
}

// Status returns the remote map of the master at addr.
func Status(ctx context.Context, addr string) (map[string]Remote, error) {
	var res map[string]Remote
	if err := adminGet(ctx, addr, "/status", &res); err != nil {
		return nil, err
	}
	return res, nil
}

// adminGet requests path from the admin endpoints at addr and decodes the
// JSON answer into v.
func adminGet(ctx context.Context, addr, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("cluster: admin %s: %w", path, err)
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
