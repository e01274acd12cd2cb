package storeurl

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestS3Config(t *testing.T) {
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
	cases := []struct {
		url                      string
		endpoint, bucket, prefix string
		secure                   bool
		region, ca               string
		bad                      bool
	}{
		{url: "s3://bkt?endpoint=http://127.0.0.1:9000", endpoint: "127.0.0.1:9000", bucket: "bkt"},
		{url: "s3://bkt/team/a/?endpoint=minio.minio.svc:9000", endpoint: "minio.minio.svc:9000", bucket: "bkt", prefix: "team/a", secure: true},
		{url: "s3://bkt?endpoint=https://s3.example.com&region=eu-1&ca=/ca.pem", endpoint: "s3.example.com", bucket: "bkt", secure: true, region: "eu-1", ca: "/ca.pem"},
		{url: "s3://bkt", endpoint: "s3.amazonaws.com", bucket: "bkt", secure: true},
		{url: "s3://b?endpoint=h:1", bad: true},
		{url: "s3://Bad_Bucket?endpoint=h:1", bad: true},
		{url: "s3:///prefix?endpoint=h:1", bad: true},
		{url: "s3://bkt?endpoint=ftp://h", bad: true},
		{url: "s3://bkt?endpoint=h:1/path", bad: true},
		{url: "s3://bkt?endpoint=h:1&bogus=1", bad: true},
		{url: "s3://user:pass@bkt?endpoint=h:1", bad: true},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := S3Config(u, env(creds))
			if c.bad {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				if err != nil && strings.Contains(err.Error(), "pass") {
					t.Errorf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Endpoint != c.endpoint || cfg.Bucket != c.bucket || cfg.Prefix != c.prefix || cfg.Secure != c.secure ||
				cfg.Region != c.region || cfg.CAFile != c.ca || cfg.AccessKey != "id" || cfg.SecretKey != "secret" {
				t.Errorf("config = %+v", cfg)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		url  string
		want error
	}{
		{"", ErrNoStore},
		{"  ", ErrNoStore},
		{"gs://bucket", ErrInvalid},
		{"file://relative/path", ErrInvalid},
		{"file:relative", ErrInvalid},
		{"%zz", ErrInvalid},
	}
	for _, c := range cases {
		if _, err := Open(ctx, c.url, Options{Getenv: env(nil)}); !errors.Is(err, c.want) {
			t.Errorf("Open(%q) = %v, want %v", c.url, err, c.want)
		}
	}
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(context.Background(), "file://"+filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("Open of a missing directory succeeded without CreateBucket")
	}
	st, err := Open(context.Background(), "file://"+filepath.Join(dir, "made"), Options{CreateBucket: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.String(), "file://") {
		t.Errorf("String = %q", st.String())
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# minio\nAWS_ACCESS_KEY_ID=ak\nexport AWS_SECRET_ACCESS_KEY=\"s3 cr=t\"\n\nAWS_SESSION_TOKEN='tok'\n")
	cases := []struct {
		name string
		env  map[string]string
		want map[string]string
		bad  bool
	}{
		{"env wins", map[string]string{"AWS_ACCESS_KEY_ID": "e", "AWS_SECRET_ACCESS_KEY": "s", "MLSTATE_S3_CREDENTIALS_FILE": good},
			map[string]string{"AWS_ACCESS_KEY_ID": "e", "AWS_SECRET_ACCESS_KEY": "s"}, false},
		{"file", map[string]string{"MLSTATE_S3_CREDENTIALS_FILE": good},
			map[string]string{"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "s3 cr=t", "AWS_SESSION_TOKEN": "tok"}, false},
		{"none is anonymous", map[string]string{}, map[string]string{}, false},
		{"env without secret", map[string]string{"AWS_ACCESS_KEY_ID": "e"}, nil, true},
		{"missing file", map[string]string{"MLSTATE_S3_CREDENTIALS_FILE": filepath.Join(dir, "nope")}, nil, true},
		{"unknown key", map[string]string{"MLSTATE_S3_CREDENTIALS_FILE": write("unknown", "PASSWORD=x\n")}, nil, true},
		{"no equals", map[string]string{"MLSTATE_S3_CREDENTIALS_FILE": write("noeq", "AWS_ACCESS_KEY_ID\n")}, nil, true},
		{"secret missing", map[string]string{"MLSTATE_S3_CREDENTIALS_FILE": write("half", "AWS_ACCESS_KEY_ID=a\n")}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Credentials(env(c.env))
			if c.bad {
				if err == nil {
					t.Errorf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// A secret pasted into the URL's query never reaches a message.
func TestSecretInQueryRedacted(t *testing.T) {
	for _, raw := range []string{
		"s3://bucket?endpoint=http://h:9000&secretKey=hunter2hunter2",
		"s3://?X-Amz-Signature=hunter2hunter2",
		"gs://bucket?token=hunter2hunter2",
		"s3://bu%zzcket?token=hunter2hunter2",
	} {
		_, err := Open(context.Background(), raw, Options{Getenv: func(string) string { return "" }})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v; want an error without the secret", raw, err)
		}
	}
}
