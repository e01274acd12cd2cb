package s3store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/mlstate/mlstate/pkg/store"
)

// errPrecondition is a failed conditional write (If-None-Match).
var errPrecondition = errors.New("precondition failed")

// errBadDigest is a body the server received different from what was sent.
var errBadDigest = errors.New("body corrupted in transit")

// translate maps a minio-go or network error onto the store sentinels,
// naming the endpoint and bucket so the one-line message is actionable.
func (s *Store) translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch {
		case er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed":
			return fmt.Errorf("%w: %w", errPrecondition, err)
		case er.Code == "BadDigest" || er.Code == "InvalidDigest" || er.Code == "XAmzContentChecksumMismatch" || er.Code == "XAmzContentSHA256Mismatch":
			// The network changed the bytes; sending them again is the fix.
			return fmt.Errorf("S3 endpoint %s: %w: %w: %w", s.cfg.Endpoint, errBadDigest, store.ErrTransient, err)
		case er.Code == "NoSuchKey" || er.Code == "NoSuchObject":
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case er.Code == "NoSuchBucket":
			return fmt.Errorf("bucket %q at %s does not exist: %w", s.cfg.Bucket, s.cfg.Endpoint, store.ErrNotFound)
		case er.Code == "RequestTimeTooSkewed":
			// A signature check that failed on time, not on the keys.
			return fmt.Errorf("S3 endpoint %s refused the request because this host's clock differs too much from the server's (%s); fix the node's time (NTP) and retry: %w",
				s.cfg.Endpoint, er.Code, store.ErrClockSkew)
		case er.Code == "AccessDenied" || er.Code == "InvalidAccessKeyId" || er.Code == "SignatureDoesNotMatch" ||
			er.StatusCode == http.StatusForbidden || er.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("access to bucket %q at %s denied (%s); %s: %w",
				s.cfg.Bucket, s.cfg.Endpoint, er.Code, s.credentialsHint(), store.ErrPermission)
		case er.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case er.StatusCode >= 500 || er.StatusCode == http.StatusTooManyRequests || er.Code == "SlowDown" || er.Code == "RequestTimeout":
			return fmt.Errorf("S3 endpoint %s: %w: %w", s.cfg.Endpoint, store.ErrTransient, err)
		}
		return err
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		// Not worth a retry: the certificate will not change.
		return fmt.Errorf("TLS to S3 endpoint %s: %w (trust its CA with ca=/path/ca.pem in the store URL, or use http:// for a plain endpoint)", s.cfg.Endpoint, err)
	}
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ue) || errors.As(err, &ne) || errors.As(err, &oe) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("S3 endpoint %s unreachable: %w: %w", s.cfg.Endpoint, store.ErrTransient, err)
	}
	return err
}

// credentialsHint tells a denied user what to check: where the credentials
// came from, or that there were none.
func (s *Store) credentialsHint() string {
	src := s.cfg.CredentialsSource
	if src == "" {
		src = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or MLSTATE_S3_CREDENTIALS_FILE"
	}
	if s.cfg.AccessKey == "" {
		return "the request carried no credentials (anonymous); set them in " + src
	}
	return "check the credentials in " + src + " and their rights on the bucket"
}
