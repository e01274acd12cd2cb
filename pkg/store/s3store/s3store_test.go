package s3store_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/s3store"
	"github.com/mlstate/mlstate/pkg/store/storetest"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) { testsupport.Main(m) }

func config(s *testsupport.MinIOServer, bucket string) s3store.Config {
	return s3store.Config{Endpoint: s.Endpoint, Bucket: bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey}
}

func TestConformance(t *testing.T) {
	s := testsupport.MinIO(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := config(s, s.Bucket(t))
		cfg.Prefix = "some/prefix"
		st, err := s3store.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestPrefixIsolates(t *testing.T) {
	s := testsupport.MinIO(t)
	ctx := context.Background()
	bucket := s.Bucket(t)
	a, b := config(s, bucket), config(s, bucket)
	a.Prefix, b.Prefix = "team-a", "team-b"
	sa, err := s3store.New(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := s3store.New(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Put(ctx, "k", strings.NewReader("a"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Stat(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other prefix sees the key: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	s := testsupport.MinIO(t)
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	wrongKey := config(s, s.Bucket(t))
	wrongKey.SecretKey = "wrong-secret-key"
	fromSecret := wrongKey
	fromSecret.CredentialsSource = "Secret mlstate-store in namespace ml"
	anonymous := config(s, s.Bucket(t))
	anonymous.AccessKey, anonymous.SecretKey = "", ""
	anonymous.CredentialsSource = fromSecret.CredentialsSource
	unreachable := config(s, "bucket")
	unreachable.Endpoint, unreachable.MaxRetries = closed, 1
	cases := []struct {
		name     string
		cfg      s3store.Config
		want     error
		contains string
	}{
		{"missing bucket", config(s, "no-such-bucket"), store.ErrNotFound, "--create-bucket"},
		{"wrong credentials", wrongKey, store.ErrPermission, "AWS_SECRET_ACCESS_KEY"},
		{"wrong credentials from a Secret", fromSecret, store.ErrPermission, "check the credentials in Secret mlstate-store in namespace ml"},
		{"no credentials", anonymous, store.ErrPermission, "no credentials (anonymous); set them in Secret mlstate-store"},
		{"unreachable", unreachable, store.ErrTransient, closed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s3store.New(ctx, c.cfg)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.contains) {
				t.Errorf("New = %v; want %v mentioning %q", err, c.want, c.contains)
			}
			if strings.Contains(err.Error(), s.SecretKey) || strings.Contains(err.Error(), "wrong-secret-key") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestCreateBucket(t *testing.T) {
	s := testsupport.MinIO(t)
	cfg := config(s, "created-"+strings.ToLower(t.Name()[:4]))
	cfg.CreateBucket = true
	st, err := s3store.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New with CreateBucket: %v", err)
	}
	if err := st.Put(context.Background(), "k", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	// A second open finds it.
	if _, err := s3store.New(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}
