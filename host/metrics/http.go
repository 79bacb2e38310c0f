package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowctl/flowctl/host/health"
)

// Health returns each component's state, by id, for /healthz.
type Health func() map[string]health.State

// Server is the HTTP endpoint.
type Server struct {
	lis  net.Listener
	http *http.Server
	done chan struct{}
}

// Listen binds addr (port 0 picks one) and serves /metrics from m and
// /healthz from h in the background until Shutdown.
func Listen(addr string, m *Metrics, h Health, log hclog.Logger) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w, h) })
	s := &Server{lis: lis, done: make(chan struct{}), http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "error", err)
		}
	}()
	return s, nil
}

// Remote reports whether addr (host:port) is reachable beyond loopback: an
// empty host is every interface. The endpoint has no authentication, so
// callers serve a remote one only when told to.
func Remote(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("want host:port: %w", err)
	}
	if host == "localhost" {
		return false, nil
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback(), nil
}

// Addr is the address served, with the port it got.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Shutdown stops the endpoint, letting scrapes in progress finish until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) {
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	<-s.done
}

func healthz(w http.ResponseWriter, h Health) {
	type comp struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	body := struct {
		Status     string `json:"status"`
		Components []comp `json:"components"`
	}{Status: "ok", Components: []comp{}}
	code := http.StatusOK
	if h != nil {
		for id, st := range h() {
			body.Components = append(body.Components, comp{ID: id, State: st.String()})
			if st == health.Unhealthy {
				body.Status, code = "unhealthy", http.StatusServiceUnavailable
			}
		}
	}
	sort.Slice(body.Components, func(i, j int) bool { return body.Components[i].ID < body.Components[j].ID })
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
