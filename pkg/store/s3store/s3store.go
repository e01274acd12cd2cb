// Package s3store keeps a store in an S3 bucket (MinIO, AWS S3 or any
// compatible server) through minio-go. Keys live under an optional prefix.
// minio-go retries transient failures with backoff; what is left after its
// retries is translated into the store sentinels so steps can map it to an
// exit code.
package s3store

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/mlstate/mlstate/pkg/store"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Endpoint string // host[:port]
	Secure   bool   // TLS
	CAFile   string // PEM bundle trusted in addition to the system roots; "" = system roots only
	Region   string // "" lets the client discover it
	Bucket   string
	Prefix   string // without leading or trailing slash; "" = bucket root
	// Credentials; all empty means anonymous access.
	AccessKey, SecretKey, SessionToken string
	// CredentialsSource says where the credentials come from, for the
	// message of a denied request ("" names the environment variables).
	CredentialsSource string
	// CreateBucket creates a missing bucket instead of failing.
	CreateBucket bool
	// MaxRetries per request; 0 means 5.
	MaxRetries int
}

// Store is a store.Store in an S3 bucket.
type Store struct {
	c      *minio.Client
	cfg    Config
	prefix string // "" or "prefix/"
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.RangeGetter = (*Store)(nil)
)

// New connects to the bucket and checks that it exists (creating it when
// cfg.CreateBucket is set), so a wrong endpoint, credentials or bucket are
// reported once, up front, with a clear message.
func New(ctx context.Context, cfg Config) (*Store, error) {
	transport, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 5
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		Transport:  transport,
		MaxRetries: cfg.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 endpoint %q: %w", cfg.Endpoint, err)
	}
	s := &Store{c: c, cfg: cfg}
	if cfg.Prefix != "" {
		s.prefix = strings.Trim(cfg.Prefix, "/") + "/"
	}
	if err := s.checkBucket(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newTransport(cfg Config) (http.RoundTripper, error) {
	t, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, err
	}
	// Many parallel uploads to one endpoint: keep their connections.
	t.MaxIdleConnsPerHost = 64
	if cfg.CAFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", cfg.CAFile)
	}
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	return t, nil
}

func (s *Store) checkBucket(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("%s: %w", s, s.translate(err))
	}
	if ok {
		return nil
	}
	if !s.cfg.CreateBucket {
		return fmt.Errorf("%s: bucket %q does not exist: %w (check the store URL; to start a new store, create it, or pass --create-bucket to stage push, snapshot or guard)", s, s.cfg.Bucket, store.ErrNotFound)
	}
	err = s.c.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
		return nil // created concurrently
	}
	if err != nil {
		return fmt.Errorf("%s: create bucket: %w", s, s.translate(err))
	}
	return nil
}

// String names the store without credentials.
func (s *Store) String() string {
	scheme := "https"
	if !s.cfg.Secure {
		scheme = "http"
	}
	return fmt.Sprintf("s3://%s/%s (endpoint %s://%s)", s.cfg.Bucket, strings.TrimSuffix(s.prefix, "/"), scheme, s.cfg.Endpoint)
}

func (s *Store) putOptions() minio.PutObjectOptions {
	// Every body carries its Content-MD5, and the server refuses one that
	// arrives different: without it, a chunk corrupted in transit on a
	// plain http:// endpoint (the SigV4 payload hash is skipped, below)
	// would be stored under its digest and reused by every later dedup.
	// MD5 rather than the SigV4 SHA-256 payload hash: it is cheaper, and
	// every S3 server checks it.
	return minio.PutObjectOptions{DisableContentSha256: true, SendContentMd5: true, ContentType: "application/octet-stream"}
}

// putAttempts bounds the PUTs of a body the server found corrupted in
// transit; minio-go does not retry a 400.
const putAttempts = 3

func (s *Store) put(ctx context.Context, key string, r io.Reader, size int64, opts minio.PutObjectOptions) error {
	body := seekable(r, size)
	for attempt := 1; ; attempt++ {
		_, err := s.c.PutObject(ctx, s.cfg.Bucket, s.prefix+key, body, size, opts)
		if err == nil {
			return nil
		}
		err = s.translate(err)
		seeker, ok := body.(io.Seeker)
		if !errors.Is(err, errBadDigest) || attempt == putAttempts || !ok {
			return err
		}
		if _, serr := seeker.Seek(0, io.SeekStart); serr != nil {
			return err
		}
	}
}

// Put writes key. Small objects are buffered so minio-go can retry them.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.put(ctx, key, r, size, s.putOptions()); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent writes key with If-None-Match: *, so the server refuses it
// atomically when the key exists.
func (s *Store) PutIfAbsent(ctx context.Context, key string, r io.Reader, size int64) error {
	opts := s.putOptions()
	opts.SetMatchETagExcept("*")
	err := s.put(ctx, key, r, size, opts)
	if err != nil {
		if errors.Is(err, errPrecondition) {
			return fmt.Errorf("put %s: %w", key, store.ErrExists)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Get opens key. It uses the plain streaming GET (minio.Core), not the
// seekable minio.Object, which costs a goroutine and a copy per object;
// a missing key is reported by Get itself.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	body, _, _, err := minio.Core{Client: s.c}.GetObject(ctx, s.cfg.Bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, s.translate(err))
	}
	return readCloser{body, s, key}, nil
}

// GetRange opens n bytes of key from off with one Range request.
func (s *Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	body, _, _, err := minio.Core{Client: s.c}.GetObject(ctx, s.cfg.Bucket, s.prefix+key, opts)
	if er := minio.ToErrorResponse(err); er.Code == "InvalidRange" || er.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// The object ends before off: an empty body, as the other
		// stores give (see store.RangeGetter).
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, s.translate(err))
	}
	return readCloser{body, s, key}, nil
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	oi, err := s.c.StatObject(ctx, s.cfg.Bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return store.Info{}, fmt.Errorf("stat %s: %w", key, s.translate(err))
	}
	return store.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List calls fn for each key under prefix in lexical order.
func (s *Store) List(ctx context.Context, prefix string, fn func(store.Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine when fn fails
	for oi := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("list %s: %w", prefix, s.translate(oi.Err))
		}
		if err := fn(store.Info{Key: strings.TrimPrefix(oi.Key, s.prefix), Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		err = s.translate(err)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// DeleteMany removes keys with multi-object DELETE requests (minio-go sends
// up to 1000 keys in each); missing keys are not errors.
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	objects := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objects <- minio.ObjectInfo{Key: s.prefix + k}
	}
	close(objects)
	var first error
	// Read every result, even after a failure: minio-go's sender waits for us.
	for e := range s.c.RemoveObjects(ctx, s.cfg.Bucket, objects, minio.RemoveObjectsOptions{}) {
		if e.Err == nil || first != nil {
			continue
		}
		if err := s.translate(e.Err); !errors.Is(err, store.ErrNotFound) {
			first = fmt.Errorf("delete %s: %w", strings.TrimPrefix(e.ObjectName, s.prefix), err)
		}
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}

// seekable lets minio-go rewind a body to retry it; chunks are small and
// usually already in memory as a *bytes.Reader.
func seekable(r io.Reader, size int64) io.Reader {
	if _, ok := r.(io.Seeker); ok || size < 0 || size > 16<<20 {
		return r
	}
	b, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return io.MultiReader(bytes.NewReader(b), errReader{err})
	}
	return bytes.NewReader(b)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.ReadCloser
	s   *Store
	key string
}

func (r readCloser) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s: %w", r.key, r.s.translate(err))
	}
	return n, err
}
