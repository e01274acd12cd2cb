package testsupport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Fault is what a FaultProxy does to one request.
type Fault int

// Faults a FaultProxy injects.
const (
	// Pass forwards the request untouched.
	Pass Fault = iota
	// CorruptRequest flips one byte of the request body in transit.
	CorruptRequest
	// CutResponse forwards half the response body, then drops the connection.
	CutResponse
	// StallResponse sends the response headers and then nothing, until the
	// client gives up.
	StallResponse
)

// FaultProxy is an HTTP reverse proxy in front of a real server (MinIO)
// that injects network faults into chosen requests: the client talks to
// Endpoint instead of the server. Requests keep their Host header, so S3
// signatures made for Endpoint still verify.
type FaultProxy struct {
	Endpoint string // host:port
	URL      string // http://host:port
	// Injected counts the faults injected so far.
	Injected atomic.Int64

	mu     sync.Mutex
	decide func(r *http.Request) Fault
	srv    *httptest.Server
}

// NewFaultProxy proxies to upstream (http://host:port) until the test ends.
// It passes everything until SetFaults is called.
func NewFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatalf("fault proxy upstream %q: %v", upstream, err)
	}
	p := &FaultProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = faultTransport{p: p, next: http.DefaultTransport}
	rp.ErrorLog = nil
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.Endpoint = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

// SetFaults makes decide choose the fault for each later request; nil
// passes everything.
func (p *FaultProxy) SetFaults(decide func(r *http.Request) Fault) {
	p.mu.Lock()
	p.decide = decide
	p.mu.Unlock()
}

func (p *FaultProxy) fault(r *http.Request) Fault {
	p.mu.Lock()
	decide := p.decide
	p.mu.Unlock()
	if decide == nil {
		return Pass
	}
	f := decide(r)
	if f != Pass {
		p.Injected.Add(1)
	}
	return f
}

type faultTransport struct {
	p    *FaultProxy
	next http.RoundTripper
}

func (t faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f := t.p.fault(r)
	if f == CorruptRequest && r.Body != nil {
		r.Body = &corruptBody{ReadCloser: r.Body}
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	switch f {
	case CutResponse:
		n := resp.ContentLength / 2
		resp.Body = &cutBody{ReadCloser: resp.Body, left: n}
	case StallResponse:
		resp.Body = &stallBody{ReadCloser: resp.Body, ctx: r.Context()}
	}
	return resp, nil
}

// corruptBody flips the first byte it reads.
type corruptBody struct {
	io.ReadCloser
	done bool
}

func (b *corruptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.done {
		p[0] ^= 0xff
		b.done = true
	}
	return n, err
}

// cutBody ends with an error after left bytes; the reverse proxy then
// aborts the connection, so the client gets a body shorter than its
// Content-Length.
type cutBody struct {
	io.ReadCloser
	left int64
}

var errCut = errors.New("fault proxy: connection cut")

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// stallBody sends nothing until the client goes away.
type stallBody struct {
	io.ReadCloser
	ctx context.Context
}

func (b *stallBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}
