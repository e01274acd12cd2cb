package s3store_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/s3store"
)

// An S3 server refuses a request signed at a time far from its own with
// 403 RequestTimeTooSkewed (MinIO also in headers, which a HEAD reply carries). That is the host's clock,
// not its credentials. The reply is the exact error document S3 sends;
// a real server cannot be made to see a skewed client here.
func TestClockSkewIsNotBadCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		// MinIO names the error in headers too, for HEAD replies without a body.
		w.Header().Set("X-Minio-Error-Code", "RequestTimeTooSkewed")
		w.Header().Set("X-Minio-Error-Desc", "\"The difference between the request time and the server's time is too large.\"")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the server's time is too large.</Message></Error>`))
	}))
	defer srv.Close()
	_, err := s3store.New(context.Background(), s3store.Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "bucket", Region: "us-east-1", AccessKey: "k", SecretKey: "s", MaxRetries: 1,
	})
	if !errors.Is(err, store.ErrClockSkew) || errors.Is(err, store.ErrPermission) || !strings.Contains(err.Error(), "clock") {
		t.Errorf("New against a server that finds the clock skewed = %v; want ErrClockSkew naming the clock, not ErrPermission", err)
	}
}
