package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Result is one step's image index, ready to write or push.
type Result struct {
	Step  string
	Ref   string
	Index v1.ImageIndex
	// Images are the per-platform images of Index, in platform order.
	Images []v1.Image
}

// BuildAll assembles the image index of every step from the binaries in
// binDir/<os>_<arch>/<step>. All images share one base layer. Layers are
// compressed in parallel, one per CPU.
func BuildAll(m Meta, steps []string, ps []Platform, binDir string) ([]Result, error) {
	if err := checkBinaries(steps, ps, binDir); err != nil {
		return nil, err
	}
	base, err := newLayer(baseFiles(), m.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	res := make([]Result, len(steps))
	errs := make([]error, len(steps)*len(ps))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, step := range steps {
		res[i] = Result{Step: step, Ref: m.Ref(step), Images: make([]v1.Image, len(ps))}
		for j, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				res[i].Images[j], errs[i*len(ps)+j] = buildOne(m, step, p, base, binDir)
			}()
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range res {
		res[i].Index = BuildIndex(m, res[i].Step, ps, res[i].Images)
	}
	return res, nil
}

// checkBinaries fails, before any work, naming every binary that is missing.
func checkBinaries(steps []string, ps []Platform, binDir string) error {
	var errs []error
	for _, step := range steps {
		for _, p := range ps {
			path := filepath.Join(binDir, p.dir(), step)
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("binary of step %s for %s missing at %s: compile the steps first", step, p, path))
			} else if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func buildOne(m Meta, step string, p Platform, base v1.Layer, binDir string) (v1.Image, error) {
	bin, err := os.ReadFile(filepath.Join(binDir, p.dir(), step))
	if err != nil {
		return nil, fmt.Errorf("read binary of step %s: %w", step, err)
	}
	img, err := BuildImage(m, step, p, base, bin)
	if err != nil {
		return nil, fmt.Errorf("image of step %s for %s: %w", step, p, err)
	}
	// Force the layer digests now, inside the parallel section.
	if _, err := img.Digest(); err != nil {
		return nil, fmt.Errorf("image of step %s for %s: %w", step, p, err)
	}
	return img, nil
}

// CompressedSize is what a node downloads to pull img: manifest, config and
// compressed layers.
func CompressedSize(img v1.Image) (int64, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
