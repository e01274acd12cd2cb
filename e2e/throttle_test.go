//go:build e2e

package e2e

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
)

// storeGate stands between the pods and the node's MinIO: it passes every
// request through unchanged, except that while throttling is on it answers
// the writes of restore points with 503 SlowDown, the reply S3 gives a
// client it throttles. A snapshot writes its restore point only after its
// backup ActionSet completed, so this is how a test makes a snapshot fail
// transiently (exit 20) with its ActionSet already made, on cue. The
// request signatures stay valid through it: the Host header is passed on
// as the client signed it.
type storeGate struct {
	addr     string // host:port on the node
	throttle atomic.Bool
	refused  atomic.Int64
	srv      *http.Server
}

func startStoreGate(nodeIP, minioAddr string) (*storeGate, error) {
	l, err := net.Listen("tcp", nodeIP+":0")
	if err != nil {
		return nil, fmt.Errorf("store gate: %w", err)
	}
	g := &storeGate{addr: l.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: minioAddr})
	g.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && g.throttle.Load() && strings.Contains(r.URL.Path, "/restorepoints/") {
			g.refused.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
				`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>`+
				`<Resource>%s</Resource><RequestId>e2e-gate</RequestId></Error>`, html.EscapeString(r.URL.Path))
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = g.srv.Serve(l) }()
	return g, nil
}

func (g *storeGate) Close() error { return g.srv.Close() }
