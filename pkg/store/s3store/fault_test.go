package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/s3store"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// proxied opens a store that reaches MinIO through a fault proxy.
func proxied(t *testing.T) (*testsupport.FaultProxy, store.Store) {
	s := testsupport.MinIO(t)
	p := testsupport.NewFaultProxy(t, s.URL)
	cfg := config(s, s.Bucket(t))
	cfg.Endpoint = p.Endpoint
	cfg.MaxRetries = 1
	st, err := s3store.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

// firstN injects f into the first n requests of the given method whose
// path contains key.
func firstN(n int64, method, key string, f testsupport.Fault) func(*http.Request) testsupport.Fault {
	var seen atomic.Int64
	return func(r *http.Request) testsupport.Fault {
		if r.Method == method && strings.Contains(r.URL.Path, key) && seen.Add(1) <= n {
			return f
		}
		return testsupport.Pass
	}
}

// A body corrupted on a plain http:// endpoint must never be stored.
func TestPutCorruptedInTransit(t *testing.T) {
	p, st := proxied(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("chunk "), 10000)

	p.SetFaults(firstN(1, http.MethodPut, "once", testsupport.CorruptRequest))
	if err := st.Put(ctx, "once", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put with its first body corrupted: %v (want it sent again)", err)
	}
	assertContent(t, st, "once", data)

	p.SetFaults(firstN(1<<30, http.MethodPut, "always", testsupport.CorruptRequest))
	err := st.Put(ctx, "always", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, store.ErrTransient) {
		t.Errorf("Put with every body corrupted = %v, want ErrTransient", err)
	}
	p.SetFaults(nil)
	if _, err := st.Stat(ctx, "always"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a body corrupted in transit was stored: Stat = %v", err)
	}
	if p.Injected.Load() < 2 {
		t.Errorf("%d faults injected, want at least 2", p.Injected.Load())
	}
}

// A GET whose body is cut short fails with ErrTransient, never with a
// short, clean read that looks like a complete (wrong) object.
func TestGetCutShort(t *testing.T) {
	p, st := proxied(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100000)
	if err := st.Put(ctx, "k", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	p.SetFaults(firstN(1, http.MethodGet, "k", testsupport.CutResponse))
	rc, err := st.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, store.ErrTransient) {
		t.Errorf("reading a cut body = %v, want ErrTransient", err)
	}
}

func assertContent(t *testing.T, st store.Store, key string, want []byte) {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: read %d bytes (%v), want the %d bytes put", key, len(got), err, len(want))
	}
}
