package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// WriteLayout writes r's index as an OCI image layout in dir, replacing what
// was there. The index entry is annotated with the reference, which
// `ctr images import` and `docker load` use to name the image.
func WriteLayout(dir string, r Result) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	tag := r.Ref[strings.LastIndex(r.Ref, ":")+1:]
	err = p.AppendIndex(r.Index, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          r.Ref,
		"org.opencontainers.image.ref.name": tag,
	}))
	if err != nil {
		return fmt.Errorf("write layout %s: %w", dir, err)
	}
	return nil
}

// dockerManifest is one entry of the manifest.json that `docker save` writes
// and a classic (non-containerd) `docker load` reads.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteTar tars the OCI layout in dir into path, adding a docker-save
// manifest.json for img (one platform; the format cannot hold more) so the
// one file loads with `ctr images import` (all platforms) and `docker load`.
// Entries are sorted and stamped with created, so the tar is reproducible.
func WriteTar(path, dir string, r Result, img v1.Image, created time.Time) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	dm := dockerManifest{Config: blobPath(m.Config.Digest), RepoTags: []string{r.Ref}}
	for _, l := range m.Layers {
		dm.Layers = append(dm.Layers, blobPath(l.Digest))
	}
	mj, err := json.Marshal([]dockerManifest{dm})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer f.Close()
	if err := tarDir(f, dir, mj, created); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

func tarDir(w io.Writer, dir string, manifestJSON []byte, created time.Time) error {
	names := []string{"manifest.json"}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			rel += "/"
		}
		names = append(names, rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, name := range names {
		h := &tar.Header{Name: name, Mode: 0o644, ModTime: created, Format: tar.FormatUSTAR}
		switch {
		case name == "manifest.json":
			h.Size = int64(len(manifestJSON))
			if err := writeEntry(tw, h, strings.NewReader(string(manifestJSON))); err != nil {
				return err
			}
		case strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		default:
			if err := tarFile(tw, h, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func tarFile(tw *tar.Writer, h *tar.Header, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	return writeEntry(tw, h, f)
}

func writeEntry(tw *tar.Writer, h *tar.Header, r io.Reader) error {
	h.Typeflag = tar.TypeReg
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}
