package preflight

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ScratchDir is the directory, under the Profile's prefix and in the store,
// holding preflight's scratch objects; they are deleted at once, so
// anything left there (a killed run) may be removed.
const ScratchDir = ".mlstate-preflight"

// cleanupTimeout bounds the removal of a scratch object, which runs on a
// fresh context so an interrupted run still removes it.
const cleanupTimeout = 10 * time.Second

// testHookScratchWritten, when set by a test, runs right after a scratch
// object was written (to interrupt the run at the worst moment).
var testHookScratchWritten func()

// checkBucket does what a Kanister data-moving function will do with the
// Profile: reach the endpoint with the Profile's credentials, find the
// bucket in the Profile's region, list it and write and delete a small
// object under the Profile's prefix.
func checkBucket(ctx context.Context, r *runner, where string, doc profileDoc, accessKey, secretKey string) Check {
	const id, name = "bucket", "Profile bucket"
	loc := doc.Location
	if loc.Type != "s3Compliant" {
		return warn(id, name, "check the bucket by hand (kanctl validate profile)",
			"not checked: location type %q (preflight checks s3Compliant buckets)", loc.Type)
	}
	if loc.Bucket == "" {
		return broken(id, name, "set location.bucket in profile "+where, "profile %s has no location.bucket", where)
	}
	endpoint, secure, err := parseEndpoint(loc.Endpoint)
	if err != nil {
		return broken(id, name, "set location.endpoint to http(s)://HOST[:PORT] in profile "+where, "profile %s: %v", where, err)
	}
	opts := &minio.Options{
		Creds:      credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure:     secure,
		MaxRetries: 1,
	}
	if doc.SkipSSLVerify {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the Profile asks for it
		opts.Transport = tr
	}
	target := fmt.Sprintf("bucket %q at %s", loc.Bucket, endpoint)
	// The location request is signed for us-east-1 whatever the region, so
	// it answers even when the Profile's region is wrong.
	probe, err := minio.New(endpoint, opts)
	if err != nil {
		return broken(id, name, "fix location.endpoint in profile "+where, "%s: %v", target, err)
	}
	region, err := probe.GetBucketLocation(ctx, loc.Bucket)
	var notes []string
	switch code := minio.ToErrorResponse(err).Code; {
	case err == nil:
		if region == "" {
			region = "us-east-1"
		}
		if loc.Region != "" && loc.Region != region {
			return broken(id, name, fmt.Sprintf("set location.region: %s in profile %s", region, where),
				"%s is in region %s, but the Profile says %s (signed requests would fail, kanister#3613)", target, region, loc.Region)
		}
		if loc.Region == "" {
			notes = append(notes, "location.region unset (bucket is in "+region+")")
		}
	case code == "NoSuchBucket":
		return broken(id, name, fmt.Sprintf("create the bucket (mc mb ALIAS/%s) or fix location.bucket in profile %s", loc.Bucket, where), "%s does not exist", target)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return broken(id, name, "put valid keys into the Profile's credential Secret", "%s rejects the Profile's credentials: %v", target, err)
	case code == "AccessDenied":
		notes = append(notes, "region not checked (GetBucketLocation denied)")
		region = loc.Region
	default:
		return broken(id, name, "check location.endpoint and that the object store is reachable from the cluster", "%s: %v", target, err)
	}
	opts.Region = region
	client, err := minio.New(endpoint, opts)
	if err != nil {
		return broken(id, name, "fix location.endpoint in profile "+where, "%s: %v", target, err)
	}
	if err := listOne(ctx, client, loc.Bucket, loc.Prefix); err != nil {
		return broken(id, name, "give the Profile's keys s3:ListBucket on the bucket", "%s: list: %v", target, err)
	}
	key := path.Join(strings.Trim(loc.Prefix, "/"), ScratchDir, randomName())
	if err := writeScratch(ctx, client, loc.Bucket, key); err != nil {
		return broken(id, name, "give the Profile's keys s3:PutObject and s3:DeleteObject under its prefix", "%s: %v", target, err)
	}
	detail := fmt.Sprintf("%s (region %s): list, write and delete of %s work", target, region, key)
	if len(notes) > 0 {
		return warn(id, name, "set location.region in the Profile to the bucket's region", "%s; %s", detail, strings.Join(notes, "; "))
	}
	return ok(id, name, "%s", detail)
}

func listOne(ctx context.Context, c *minio.Client, bucket, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, MaxKeys: 1}) {
		return obj.Err
	}
	return nil
}

// writeScratch writes and removes one small object. The removal runs on a
// fresh context, also when ctx was cancelled during the write (the write
// may have landed anyway).
func writeScratch(ctx context.Context, c *minio.Client, bucket, key string) (err error) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := c.RemoveObject(cctx, bucket, key, minio.RemoveObjectOptions{}); derr != nil && err == nil {
			err = fmt.Errorf("delete scratch object %s: %w (remove it by hand)", key, derr)
		}
	}()
	body := []byte("mlstate preflight scratch object; safe to delete\n")
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		return fmt.Errorf("write scratch object %s: %w", key, err)
	}
	if testHookScratchWritten != nil {
		testHookScratchWritten()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write scratch object %s: %w", key, err)
	}
	return nil
}

// parseEndpoint turns location.endpoint into minio-go's host and TLS flag.
// Empty means AWS; no scheme means TLS, as in Kanister.
func parseEndpoint(s string) (host string, secure bool, err error) {
	if s == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(s, "://") {
		return strings.TrimSuffix(s, "/"), true, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("location.endpoint %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return "", false, fmt.Errorf("location.endpoint %q: scheme must be http or https", s)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, errors.New("location.endpoint " + s + ": want SCHEME://HOST[:PORT] without a path")
	}
	return u.Host, u.Scheme == "https", nil
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
