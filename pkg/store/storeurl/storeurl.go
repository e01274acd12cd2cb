// Package storeurl opens a store from the one string that names it.
//
// Formats:
//
//	s3://BUCKET[/PREFIX][?endpoint=[http://|https://]HOST[:PORT]][&region=REGION][&ca=/path/ca.pem]
//	file:///ABSOLUTE/PATH
//
// For s3 the endpoint's scheme decides TLS: http means plain, https or no
// scheme means TLS. Without an endpoint, s3.amazonaws.com is used. ca names a
// PEM bundle trusted in addition to the system roots.
//
// Credentials are never part of the URL. They come from the environment:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN;
// or, when those are unset, from the file named by MLSTATE_S3_CREDENTIALS_FILE
// (for example a mounted Kubernetes Secret). That file holds KEY=VALUE lines
// with the same three keys; blank lines and lines starting with # are
// ignored, values may be quoted:
//
//	AWS_ACCESS_KEY_ID=minio
//	AWS_SECRET_ACCESS_KEY="s3cr3t"
package storeurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/filestore"
	"github.com/mlstate/mlstate/pkg/store/s3store"
)

// Options tune Open. The zero value reads the process environment and never
// creates buckets or directories.
type Options struct {
	// Getenv reads environment variables; nil means os.Getenv.
	Getenv func(string) string
	// CreateBucket creates a missing bucket (or file-store directory).
	CreateBucket bool
}

// ErrNoStore is returned for an empty URL.
var ErrNoStore = errors.New("no store configured: set --store or MLSTATE_STORE (s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT or file:///ABSOLUTE/PATH)")

// ErrInvalid marks a malformed store URL (a usage error).
var ErrInvalid = errors.New("invalid store URL")

// Open parses rawURL and connects to the store it names.
func Open(ctx context.Context, rawURL string, opts Options) (store.Store, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if strings.TrimSpace(rawURL) == "" {
		return nil, ErrNoStore
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse quotes the whole URL in its error, secrets included.
		return nil, fmt.Errorf("%w: the store URL does not parse (check its %%-escapes); expected s3://BUCKET[/PREFIX]?endpoint=… or file:///PATH", ErrInvalid)
	}
	switch u.Scheme {
	case "file":
		return openFile(u, opts)
	case "s3":
		cfg, err := S3Config(u, opts.Getenv)
		if err != nil {
			return nil, err
		}
		cfg.CreateBucket = opts.CreateBucket
		return s3store.New(ctx, cfg)
	}
	return nil, fmt.Errorf("%w %q: scheme must be s3:// or file://", ErrInvalid, redact(rawURL))
}

func openFile(u *url.URL, opts Options) (store.Store, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%w %q: use file:///ABSOLUTE/PATH (three slashes)", ErrInvalid, u.String())
	}
	if u.Path == "" || !filepath.IsAbs(u.Path) {
		return nil, fmt.Errorf("%w %q: the path must be absolute, e.g. file:///var/lib/mlstate", ErrInvalid, u.String())
	}
	return filestore.New(filepath.Clean(u.Path), opts.CreateBucket)
}

// S3Config turns an s3:// URL and the environment into a store config.
func S3Config(u *url.URL, getenv func(string) string) (s3store.Config, error) {
	cfg := s3store.Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Secure: true}
	if cfg.Bucket == "" {
		return cfg, fmt.Errorf("%w %q: no bucket (s3://BUCKET[/PREFIX]?endpoint=…)", ErrInvalid, redact(u.String()))
	}
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return cfg, fmt.Errorf("%w %q: bucket %q: %v", ErrInvalid, redact(u.String()), cfg.Bucket, err)
	}
	if u.User != nil {
		return cfg, fmt.Errorf("%w: credentials do not belong in the store URL; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or MLSTATE_S3_CREDENTIALS_FILE", ErrInvalid)
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "ca":
		default:
			return cfg, fmt.Errorf("%w %q: unknown parameter %q (known: endpoint, region, ca)", ErrInvalid, redact(u.String()), k)
		}
	}
	cfg.Region, cfg.CAFile = q.Get("region"), q.Get("ca")
	ep := q.Get("endpoint")
	switch {
	case ep == "":
		cfg.Endpoint = "s3.amazonaws.com"
	case strings.HasPrefix(ep, "http://"):
		cfg.Endpoint, cfg.Secure = strings.TrimPrefix(ep, "http://"), false
	case strings.HasPrefix(ep, "https://"):
		cfg.Endpoint = strings.TrimPrefix(ep, "https://")
	case strings.Contains(ep, "://"):
		return cfg, fmt.Errorf("%w: endpoint %q: scheme must be http or https", ErrInvalid, ep)
	default:
		cfg.Endpoint = ep
	}
	cfg.Endpoint = strings.TrimSuffix(cfg.Endpoint, "/")
	if cfg.Endpoint == "" || strings.Contains(cfg.Endpoint, "/") {
		return cfg, fmt.Errorf("%w: endpoint %q must be HOST[:PORT]", ErrInvalid, ep)
	}
	creds, err := Credentials(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"]
	// Set where the environment is filled from a Secret (the templates, the
	// mlstate-stage Blueprint's pods), so a denial names the Secret.
	cfg.CredentialsSource = getenv(CredentialsSourceEnv)
	return cfg, nil
}

// CredentialsSourceEnv describes where the credentials in the environment
// come from, for error messages (never the credentials themselves).
const CredentialsSourceEnv = "MLSTATE_CREDENTIALS_SOURCE"

// redact removes what may be a secret from a store URL before it goes into
// a message or a log: user info, and the value of every query parameter
// other than the known, harmless ones (a URL pasted with ?secretKey=… or
// a presigned signature must not be logged whole).
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable store URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			switch k {
			case "endpoint", "region", "ca":
			default:
				q[k] = []string{"REDACTED"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
