package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCABundle(t *testing.T) {
	rest := CABundle()
	n := 0
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			t.Fatalf("trailing bytes after %d certificates", n)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("certificate %d: %v", n, err)
		}
		if !cert.IsCA {
			t.Errorf("certificate %d (%s) is not a CA", n, cert.Subject)
		}
		n++
	}
	// NSS holds about 150 roots; far fewer means the bundle lost most of them.
	if n < 100 {
		t.Fatalf("bundle has %d certificates, want at least 100", n)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(CABundle()) {
		t.Fatal("crypto/x509 cannot load the bundle")
	}
}

func TestLayerReproducible(t *testing.T) {
	epoch := time.Unix(0, 0)
	digest := func(files []file, created time.Time) string {
		t.Helper()
		l, err := newLayer(files, created)
		if err != nil {
			t.Fatal(err)
		}
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a := digest(baseFiles(), epoch)
	// Entry order must not matter: tarFiles sorts.
	reversed := baseFiles()
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	if b := digest(reversed, epoch); a != b {
		t.Fatalf("same files in another order: digest %s, want %s", b, a)
	}
	if c := digest(baseFiles(), time.Unix(1700000000, 0)); c == a {
		t.Fatal("timestamps do not reach the layer: digest unchanged for another SOURCE_DATE_EPOCH")
	}
}

func TestWriteRootFS(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRootFS(dir); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		"etc/passwd":                        0o644,
		"etc/group":                         0o644,
		"etc/ssl/certs/ca-certificates.crt": 0o644,
		"tmp":                               fs.ModeDir | fs.ModeSticky | 0o777,
		"home/nonroot":                      fs.ModeDir | 0o700,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
		}
	}
	ca, err := os.ReadFile(filepath.Join(dir, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil || !bytes.Equal(ca, CABundle()) {
		t.Errorf("CA file differs from CABundle() (err %v)", err)
	}
}

func TestBuildAllNamesMissingBinaries(t *testing.T) {
	_, err := BuildAll(Meta{Registry: "r", Tag: "t"}, []string{"stage"}, testPlatforms, t.TempDir())
	for _, p := range testPlatforms {
		if err == nil || !strings.Contains(err.Error(), "binary of step stage for "+p.String()+" missing") {
			t.Errorf("BuildAll without binaries: %v, want it to name stage for %s", err, p)
		}
	}
}
