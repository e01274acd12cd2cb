package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

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

// fileList renders a layer's entries as "name type mode uid:gid" lines.
func fileList(t *testing.T, l v1.Layer, onFile func(name string, r io.Reader)) []string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var list []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return list
		}
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, fmt.Sprintf("%s %c %04o %d:%d", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid))
		if h.ModTime.Unix() != 0 {
			t.Errorf("%s has mtime %v, want the epoch", h.Name, h.ModTime)
		}
		if onFile != nil {
			onFile(h.Name, tr)
		}
	}
}

func expectedFiles(step string) []string {
	return []string{
		"etc/ 5 0755 0:0",
		"etc/group 0 0644 0:0",
		"etc/passwd 0 0644 0:0",
		"etc/ssl/ 5 0755 0:0",
		"etc/ssl/certs/ 5 0755 0:0",
		"etc/ssl/certs/ca-certificates.crt 0 0644 0:0",
		"home/ 5 0755 0:0",
		"home/nonroot/ 5 0700 65532:65532",
		"tmp/ 5 1777 0:0",
		"usr/ 5 0755 0:0",
		"usr/local/ 5 0755 0:0",
		"usr/local/bin/ 5 0755 0:0",
		"usr/local/bin/" + step + " 0 0755 0:0",
	}
}

// checkIndex checks the index's platforms and every image's config and
// files, and returns the images.
func checkIndex(t *testing.T, idx v1.ImageIndex, m Meta, step, bins string) []v1.Image {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(im.Annotations, m.Labels(step)) {
		t.Errorf("index annotations %v, want %v", im.Annotations, m.Labels(step))
	}
	if len(im.Manifests) != len(testPlatforms) {
		t.Fatalf("index has %d manifests, want %d", len(im.Manifests), len(testPlatforms))
	}
	var imgs []v1.Image
	for i, desc := range im.Manifests {
		want := testPlatforms[i]
		if desc.Platform == nil || desc.Platform.OS != want.OS || desc.Platform.Architecture != want.Arch {
			t.Errorf("manifest %d platform %v, want %s", i, desc.Platform, want)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, img, m, step, want)
		checkFiles(t, img, step, want, filepath.Join(bins, want.dir(), step), m.Version)
		imgs = append(imgs, img)
	}
	return imgs
}

// checkFiles checks that img holds exactly the expected files. The image for
// this machine is read entry by entry and its binary run with --version. For
// the other platforms, decompressing 50 MB under the race detector is slow, so
// the binary layer is compared by DiffID with a tar of the compiled binary:
// the host image shows that tar has the expected entries.
func checkFiles(t *testing.T, img v1.Image, step string, p Platform, binPath, version string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("%s: %d layers, %v; want 2", p, len(layers), err)
	}
	want := expectedFiles(step)
	files := fileList(t, layers[0], nil)
	if p.Arch == runtime.GOARCH {
		files = append(files, fileList(t, layers[1], func(name string, r io.Reader) {
			if name == "usr/local/bin/"+step {
				checkVersion(t, r, step, version)
			}
		})...)
	} else {
		var tb bytes.Buffer
		if err := tarFiles(&tb, binaryFiles(step, readFile(t, binPath)), time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		got, _ := layers[1].DiffID()
		if wantID, _, _ := v1.SHA256(&tb); got != wantID {
			t.Errorf("%s binary layer DiffID %s, want %s (a tar of %s)", p, got, wantID, binPath)
		}
		files = append(files, want[len(want)-len(binaryFiles(step, nil)):]...)
	}
	if !slices.Equal(files, want) {
		t.Errorf("%s files:\n%s\nwant:\n%s", p, strings.Join(files, "\n"), strings.Join(want, "\n"))
	}
}

func checkConfig(t *testing.T, img v1.Image, m Meta, step string, p Platform) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != p.OS || cf.Architecture != p.Arch {
		t.Errorf("config platform %s/%s, want %s", cf.OS, cf.Architecture, p)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/" + step}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/usr/local/bin/%s] and no cmd", c.Entrypoint, c.Cmd, step)
	}
	wantEnv := []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	if !slices.Equal(c.Env, wantEnv) {
		t.Errorf("env %q, want %q", c.Env, wantEnv)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":      "https://github.com/mlstate/mlstate",
		"org.opencontainers.image.revision":    testRevision,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.title":       step,
		"org.opencontainers.image.description": "mlstate " + step + " step",
	}
	if !maps.Equal(c.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", c.Labels, wantLabels)
	}
	if cf.Created.Unix() != 0 {
		t.Errorf("created %v, want the epoch", cf.Created)
	}
}

// checkVersion writes the binary from the layer to disk, runs it with
// --version and looks for the stamped version.
func checkVersion(t *testing.T, r io.Reader, step, version string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), step)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), version) {
		t.Errorf("%s --version: %v, output %q; want it to name %s", step, err, out, version)
	}
}
