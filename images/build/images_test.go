package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

const testRevision = "0123456789abcdef0123456789abcdef01234567"

var testPlatforms = []Platform{{"linux", "amd64"}, {"linux", "arm64"}}

// TestImages builds every step's image twice from one set of binaries with
// the real builder binary, and checks the images and their reproducibility.
// The builder runs as its own process so layer compression is not slowed by
// the race detector.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every step for two platforms; runs without -short (make test)")
	}
	ctx := context.Background()
	steps, err := Discover(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	m, err := meta(repoRoot, "ghcr.io/mlstate", "")
	if err != nil {
		t.Fatal(err)
	}
	m.Revision = testRevision
	bins := t.TempDir()
	err = Compile(ctx, CompileOptions{Root: repoRoot, Steps: steps, Platforms: testPlatforms, Version: m.Version, Dir: bins})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("binary reproducible", func(t *testing.T) {
		host := []Platform{{"linux", runtime.GOARCH}}
		again := t.TempDir()
		err := Compile(ctx, CompileOptions{Root: repoRoot, Steps: steps[:1], Platforms: host, Version: m.Version, Dir: again})
		if err != nil {
			t.Fatal(err)
		}
		a := readFile(t, filepath.Join(bins, host[0].dir(), steps[0]))
		b := readFile(t, filepath.Join(again, host[0].dir(), steps[0]))
		if !bytes.Equal(a, b) {
			t.Errorf("%s built twice: %d and %d bytes, contents differ (or its sources changed meanwhile)", steps[0], len(a), len(b))
		}
	})
	builder := filepath.Join(t.TempDir(), "builder")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", builder, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the builder: %v\n%s", err, out)
	}
	out1, out2 := t.TempDir(), t.TempDir()
	lines1 := runBuilder(t, builder, bins, out1, "-tar=true")
	lines2 := runBuilder(t, builder, bins, out2, "-tar=false")
	if lines1 != lines2 {
		t.Errorf("two builds from the same binaries differ:\n%s\n%s", lines1, lines2)
	}
	var base v1.Hash
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			idx := readIndex(t, filepath.Join(out1, step), m.Ref(step))
			d1, _ := idx.Digest()
			d2, _ := readIndex(t, filepath.Join(out2, step), m.Ref(step)).Digest()
			if d1 != d2 {
				t.Errorf("index digest %s in one build, %s in the other", d1, d2)
			}
			for _, img := range checkIndex(t, idx, m, step, bins) {
				layers, err := img.Layers()
				if err != nil || len(layers) != 2 {
					t.Fatalf("layers: %d, %v; want 2", len(layers), err)
				}
				d, _ := layers[0].Digest()
				if base == (v1.Hash{}) {
					base = d
				} else if d != base {
					t.Errorf("base layer %s, want %s shared by every image", d, base)
				}
			}
			checkTar(t, filepath.Join(out1, step+".tar"), m.Ref(step))
		})
	}
}

func runBuilder(t *testing.T, builder, bins, out string, extra ...string) string {
	t.Helper()
	args := append([]string{"-root", repoRoot, "-bin", bins, "-out", out, "-revision", testRevision}, extra...)
	cmd := exec.Command(builder, args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("builder %v: %v\n%s", args, err, stderr.String())
	}
	t.Logf("builder:\n%s", stdout.String())
	return stdout.String()
}

// readIndex opens the OCI layout in dir and returns its one image index,
// checking the reference it is annotated with.
func readIndex(t *testing.T, dir, ref string) v1.ImageIndex {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index.json: %v manifests, err %v; want 1", len(im.Manifests), err)
	}
	if got := im.Manifests[0].Annotations["io.containerd.image.name"]; got != ref {
		t.Errorf("index.json names the image %q, want %q", got, ref)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTar checks that the tarball holds the OCI layout and a docker-save
// manifest.json naming the image.
func checkTar(t *testing.T, path, ref string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
		if h.Name == "manifest.json" {
			var dm []dockerManifest
			if err := json.NewDecoder(tr).Decode(&dm); err != nil {
				t.Fatal(err)
			}
			if len(dm) != 1 || !slices.Equal(dm[0].RepoTags, []string{ref}) || len(dm[0].Layers) != 2 {
				t.Errorf("manifest.json = %+v, want one image tagged %s with 2 layers", dm, ref)
			}
		}
	}
	for _, name := range []string{"oci-layout", "index.json", "manifest.json", "blobs/sha256/"} {
		if !seen[name] {
			t.Errorf("%s lacks %s", path, name)
		}
	}
}
