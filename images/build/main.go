// Command build makes the container image of every mlstate step without a
// Docker daemon. For each directory under steps/ it compiles static binaries
// for linux/amd64 and linux/arm64, assembles OCI images from nothing (a base
// layer shared by all steps with users, CA roots and /tmp, then the step's
// binary), and writes one OCI image layout per step under bin/images/<step>/
// plus bin/images/<step>.tar for `ctr images import` or `docker load`.
// With -push it also pushes each image index to the registry.
//
// The same sources, toolchain and SOURCE_DATE_EPOCH give the same digests.
// `make images` and `make push` run it; see images/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "images/build: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "module root holding go.mod, VERSION and steps/")
	registry := fs.String("registry", "ghcr.io/mlstate", "registry and namespace of the images")
	tag := fs.String("tag", "", "image tag (default: v + the VERSION file)")
	out := fs.String("out", "bin/images", "output directory")
	bins := fs.String("bin", "", "take binaries from DIR/<os>_<arch>/<step> instead of compiling")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH list")
	tarOut := fs.Bool("tar", true, "also write <out>/<step>.tar (OCI layout + docker-save manifest)")
	push := fs.Bool("push", false, "push every image index with the Docker config's credentials")
	rootfs := fs.String("rootfs", "", "only write the shared base files (users, CA roots, /tmp) into DIR, for the Dockerfile")
	rev := fs.String("revision", "", "org.opencontainers.image.revision label (default: git HEAD, else \"unknown\")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rootfs != "" {
		return WriteRootFS(*rootfs)
	}
	ps, err := ParsePlatforms(*platforms)
	if err != nil {
		return err
	}
	m, err := meta(*root, *registry, *tag)
	if err != nil {
		return err
	}
	m.Revision = *rev
	if m.Revision == "" {
		m.Revision = revision(ctx, *root)
	}
	steps, err := Discover(*root)
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		return fmt.Errorf("no steps under %s", filepath.Join(*root, "steps"))
	}
	if *bins == "" {
		tmp, err := os.MkdirTemp("", "mlstate-images-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*bins = tmp
		o := CompileOptions{Root: *root, Steps: steps, Platforms: ps, Version: m.Version, Dir: tmp}
		if err := Compile(ctx, o); err != nil {
			return err
		}
	}
	results, err := BuildAll(m, steps, ps, *bins)
	if err != nil {
		return err
	}
	for _, r := range results {
		if err := emit(ctx, stdout, r, ps, m, *out, *tarOut, *push); err != nil {
			return err
		}
	}
	return nil
}

// emit writes one step's outputs and prints "REF DIGEST OS/ARCH=SIZE ...".
func emit(ctx context.Context, stdout io.Writer, r Result, ps []Platform, m Meta, out string, tarOut, push bool) error {
	dir := filepath.Join(out, r.Step)
	if err := WriteLayout(dir, r); err != nil {
		return err
	}
	if tarOut {
		img := r.Images[loadPlatform(ps)]
		if err := WriteTar(dir+".tar", dir, r, img, m.Created); err != nil {
			return err
		}
	}
	if push {
		if err := Push(ctx, r.Ref, r.Index); err != nil {
			return err
		}
	}
	d, err := r.Index.Digest()
	if err != nil {
		return err
	}
	line := r.Ref + " " + d.String()
	for i, img := range r.Images {
		n, err := CompressedSize(img)
		if err != nil {
			return err
		}
		line += fmt.Sprintf(" %s=%.1fMB", ps[i], float64(n)/1e6)
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}

// loadPlatform picks the platform the docker-save manifest.json describes:
// this machine's architecture when it is built, else the first platform.
func loadPlatform(ps []Platform) int {
	for i, p := range ps {
		if p.OS == "linux" && p.Arch == runtime.GOARCH {
			return i
		}
	}
	return 0
}

// meta reads the version and timestamp every image shares.
func meta(root, registry, tag string) (Meta, error) {
	raw, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return Meta{}, fmt.Errorf("read version: %w", err)
	}
	v := strings.TrimSpace(string(raw))
	if v == "" || strings.HasPrefix(v, "v") || strings.ContainsAny(v, " \t\n:/") {
		return Meta{}, fmt.Errorf("VERSION holds %q; want a bare version such as 0.1.0", v)
	}
	if tag == "" {
		tag = "v" + v
	}
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Meta{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since the epoch", s)
		}
		created = time.Unix(sec, 0).UTC()
	}
	return Meta{Registry: strings.TrimSuffix(registry, "/"), Tag: tag, Version: "v" + v, Created: created}, nil
}

// revision is the git commit of root, or "unknown" outside a git checkout.
func revision(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
