package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fakeBuild assembles indexes for two steps from small stand-in binaries:
// enough to test writing and pushing without compiling anything.
func fakeBuild(t *testing.T, registryHost string) []Result {
	t.Helper()
	bins := t.TempDir()
	steps := []string{"alpha", "beta"}
	for _, p := range testPlatforms {
		for _, s := range steps {
			path := filepath.Join(bins, p.dir(), s)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("binary of "+s+" for "+p.String()), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := Meta{Registry: registryHost + "/mlstate", Tag: "v9.9.9", Version: "v9.9.9", Revision: testRevision, Created: time.Unix(0, 0)}
	res, err := BuildAll(m, steps, testPlatforms, bins)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPush(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // anonymous: no credentials of this machine
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, r := range fakeBuild(t, host) {
		if err := Push(context.Background(), r.Ref, r.Index); err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(r.Ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Index(ref)
		if err != nil {
			t.Fatalf("read back %s: %v", r.Ref, err)
		}
		gd, _ := got.Digest()
		wd, _ := r.Index.Digest()
		if gd != wd {
			t.Errorf("%s: registry has %s, pushed %s", r.Ref, gd, wd)
		}
	}
}

func TestPushFailureNamesRegistry(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host := strings.TrimPrefix(srv.URL, "http://")
	res := fakeBuild(t, host)
	srv.Close() // nothing listens any more
	err := Push(context.Background(), res[0].Ref, res[0].Index)
	if err == nil || !strings.Contains(err.Error(), "push "+res[0].Ref) {
		t.Fatalf("Push to a closed registry: %v, want an error naming %s", err, res[0].Ref)
	}
}

func TestWriteLayoutAndTar(t *testing.T) {
	out := t.TempDir()
	for _, r := range fakeBuild(t, "ghcr.io") {
		dir := filepath.Join(out, r.Step)
		// Twice: a rewrite replaces the old layout instead of adding to it.
		for range 2 {
			if err := WriteLayout(dir, r); err != nil {
				t.Fatal(err)
			}
		}
		idx := readIndex(t, dir, r.Ref)
		gd, _ := idx.Digest()
		wd, _ := r.Index.Digest()
		if gd != wd {
			t.Errorf("layout holds %s, want %s", gd, wd)
		}
		if _, err := layout.FromPath(dir); err != nil {
			t.Fatal(err)
		}
		tarPath := dir + ".tar"
		if err := WriteTar(tarPath, dir, r, r.Images[0], time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		checkTar(t, tarPath, r.Ref)
		first := readFile(t, tarPath)
		if err := WriteTar(tarPath, dir, r, r.Images[0], time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		if string(readFile(t, tarPath)) != string(first) {
			t.Errorf("%s differs between two writes", tarPath)
		}
	}
}
