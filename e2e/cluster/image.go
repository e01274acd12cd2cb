package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Names of the images WriteBusyboxImages makes. The sandbox image only
// sleeps: a pod's sandbox needs a process that outlives its containers, and
// the usual pause image cannot be pulled here.
const (
	BusyboxImage = "mlstate.test/busybox:e2e"
	SandboxImage = "mlstate.test/pause:e2e"
)

// WriteBusyboxImages writes a docker-save archive holding BusyboxImage and
// SandboxImage, both one layer with a static busybox (Debian's
// busybox-static, /bin/busybox) and a link per applet in /bin.
func WriteBusyboxImages(ctx context.Context, busybox, archive string) error {
	layer, err := busyboxLayer(ctx, busybox)
	if err != nil {
		return err
	}
	box, err := layerImage(layer, "/bin/sh")
	if err != nil {
		return err
	}
	pause, err := layerImage(layer, "/bin/sleep", "2147483647")
	if err != nil {
		return err
	}
	return writeImages(archive, map[string]v1.Image{BusyboxImage: box, SandboxImage: pause})
}

// WriteBusyboxImage writes a docker-save archive of the busybox image of
// WriteBusyboxImages under each of refs: the name a user's manifest gives
// its shell image (busybox:1.36 in the examples) can then be run from the
// local image, without a registry. scripts, when not empty, are added as
// executable files in /bin, by name (a user's training program, say).
func WriteBusyboxImage(ctx context.Context, busybox, archive string, scripts map[string]string, refs ...string) error {
	layer, err := busyboxLayer(ctx, busybox)
	if err != nil {
		return err
	}
	box, err := layerImage(layer, "/bin/sh")
	if err != nil {
		return err
	}
	if len(scripts) > 0 {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		names := make([]string, 0, len(scripts))
		for n := range scripts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			body := []byte(scripts[n])
			if err := tw.WriteHeader(&tar.Header{Name: "bin/" + n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))}); err != nil {
				return err
			}
			if _, err := tw.Write(body); err != nil {
				return err
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		b := buf.Bytes()
		extra, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
		if err != nil {
			return err
		}
		if box, err = mutate.AppendLayers(box, extra); err != nil {
			return err
		}
	}
	images := map[string]v1.Image{}
	for _, r := range refs {
		images[r] = box
	}
	return writeImages(archive, images)
}

// busyboxLayer is one layer with /bin/busybox, a link per applet in /bin,
// and /tmp.
func busyboxLayer(ctx context.Context, busybox string) (v1.Layer, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("read busybox (apt-get install busybox-static): %w", err)
	}
	list, err := output(ctx, busybox, "--list")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil); err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil); err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))}, bin); err != nil {
		return nil, err
	}
	for _, applet := range strings.Fields(list) {
		if applet == "busybox" {
			continue
		}
		if err := add(&tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
}

// layerImage is an image of this machine's platform with one layer.
func layerImage(layer v1.Layer, entrypoint ...string) (v1.Image, error) {
	i, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: runtime.GOARCH,
		Config: v1.Config{Entrypoint: entrypoint, Env: []string{"PATH=/bin"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(i, layer)
}

// writeImages writes images, by reference, as one docker-save archive.
func writeImages(archive string, images map[string]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for ref, i := range images {
		r, err := name.ParseReference(ref)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", ref, err)
		}
		refs[r] = i
	}
	return tarball.MultiRefWriteToFile(archive, refs)
}

// WriteBinaryImage writes a docker-save archive of a one-layer image ref
// holding the static binary bin as /bin/<name> (on PATH), /tmp, and the
// users root and nonroot (65532), with the binary as entrypoint. It is how
// the e2e tests package Argo's argoexec.
func WriteBinaryImage(ref, bin, archive string) error {
	body, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	base := filepath.Base(bin)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		h    tar.Header
		body []byte
	}{
		{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil},
		{tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{tar.Header{Name: "bin/" + base, Typeflag: tar.TypeReg, Mode: 0o755}, body},
	}
	for _, f := range files {
		h := f.h
		h.Size = int64(len(f.body))
		if err := tw.WriteHeader(&h); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: runtime.GOARCH,
		Config: v1.Config{Entrypoint: []string{"/bin/" + base}, Env: []string{"PATH=/bin"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return err
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(archive, r, img)
}
