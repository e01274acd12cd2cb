package storeurl

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

// TestTLSEndpoint checks that TLS is on without a scheme, that an unknown CA
// is a clear, non-transient error, and that ca= makes it trusted. The
// server only answers the bucket check.
func TestTLSEndpoint(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := env(map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
	ctx := context.Background()

	_, err := Open(ctx, "s3://bucket?endpoint="+host, Options{Getenv: getenv})
	if err == nil || errors.Is(err, store.ErrTransient) || !strings.Contains(err.Error(), "ca=") {
		t.Errorf("untrusted CA: %v; want a non-transient error pointing at ca=", err)
	}
	if _, err := Open(ctx, "s3://bucket?region=us-east-1&endpoint="+host+"&ca="+ca, Options{Getenv: getenv}); err != nil {
		t.Errorf("with ca=: %v", err)
	}
	if _, err := Open(ctx, "s3://bucket?endpoint="+host+"&ca=/nonexistent.pem", Options{Getenv: getenv}); err == nil {
		t.Error("missing CA file accepted")
	}
}
