package main

import (
	"archive/tar"
	"bytes"
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
)

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
