// Command bench measures mlstate's stage step against `mc mirror`, `rclone
// copy`, restic and kopia on the same MinIO server, on two ML-like trees (a
// checkpoint shape: many 100 KiB shards and a few 100 MiB checkpoints; a
// dataset shape: 20,000 files of 4 KiB), and prints a table per shape. With
// -scale N it also pushes, re-pushes and pulls a tree of N 64-byte files
// with mlstate alone and reports time and peak RSS. Run it through `make
// bench`, which builds the tools it needs.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

var (
	binDir   = flag.String("bin", "bin/bench", "directory with stage, mc, restic and kopia")
	minioBin = flag.String("minio", "bin/testenv/minio/minio", "MinIO server binary")
	work     = flag.String("work", "", "scratch directory (default: a new temp dir, removed at the end)")
	shapes   = flag.String("shapes", "checkpoint,dataset", "comma-separated shapes to run: checkpoint, dataset")
	peers    = flag.String("peers", "mc,rclone,restic,kopia", "comma-separated peers to compare with")
	small    = flag.Int("small", 1000, "checkpoint shape: number of 100 KiB files")
	big      = flag.Int("big", 8, "checkpoint shape: number of 100 MiB files")
	dataset  = flag.Int("dataset", 20000, "dataset shape: number of 4 KiB files")
	scale    = flag.Int("scale", 0, "files of 64 bytes in the scale run (mlstate only); 0 skips it")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "mlstate-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	srv, err := startMinIO(*minioBin, filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("Conditions: %s\n", conditions())
	for _, s := range strings.Split(*shapes, ",") {
		var err error
		switch s {
		case "checkpoint":
			err = runCheckpoint(srv, filepath.Join(dir, s))
		case "dataset":
			err = runDataset(srv, filepath.Join(dir, s))
		case "":
		default:
			err = fmt.Errorf("unknown shape %q (checkpoint, dataset)", s)
		}
		if err != nil {
			return err
		}
	}
	if *scale > 0 {
		return runScale(srv, filepath.Join(dir, "scale"), *scale)
	}
	return nil
}

// bench runs phases over a set of tools, printing progress to stderr.
type bench struct {
	tools []tool
	rows  []row
}

func (b *bench) phase(name string, fn func(t tool) (measure, error)) error {
	r := row{phase: name}
	for _, t := range b.tools {
		fmt.Fprintf(os.Stderr, "%-30s %-8s ", name, t.name())
		m, err := fn(t)
		if err != nil {
			return fmt.Errorf("%s %s: %w", name, t.name(), err)
		}
		fmt.Fprintf(os.Stderr, "%7.2fs  %7.2fs CPU  %5d MiB RSS\n", m.secs, m.cpu, m.rssKiB>>10)
		r.m = append(r.m, m)
	}
	b.rows = append(b.rows, r)
	return nil
}

func (b *bench) pull(dir string) error {
	return b.phase("pull into empty dir", func(t tool) (measure, error) {
		return t.pull(filepath.Join(dir, "pull-"+t.name()))
	})
}

func (b *bench) check(src, dir string) error {
	for _, t := range b.tools {
		if err := sameTree(src, filepath.Join(dir, "pull-"+t.name())); err != nil {
			return fmt.Errorf("%s pulled a different tree: %w", t.name(), err)
		}
	}
	return nil
}

func runCheckpoint(srv *minioServer, dir string) error {
	src := filepath.Join(dir, "src")
	fmt.Fprintf(os.Stderr, "checkpoint shape: generating %d×100 KiB + %d×100 MiB in %s\n", *small, *big, src)
	if err := generateCheckpoint(src, *small, *big); err != nil {
		return err
	}
	tools, err := newTools(*binDir, srv, dir, "ckpt", peerList())
	if err != nil {
		return err
	}
	b := &bench{tools: tools}
	if err := b.phase("first push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := b.phase("no-op re-push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := changeSmall(src, *small/20); err != nil {
		return err
	}
	if err := b.phase("push, 5% small files changed", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := changeInPlace(filepath.Join(src, "ckpt", "model-0.bin")); err != nil {
		return err
	}
	if err := b.phase("push, 10% of a big file", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	inPlace := b.rows[len(b.rows)-1].m[0].uploaded
	if err := b.pull(dir); err != nil {
		return err
	}
	if err := b.check(src, dir); err != nil {
		return err
	}
	fmt.Printf("\n### %d × 100 KiB + %d × 100 MiB\n", *small, *big)
	printTable(os.Stdout, tools, b.rows)
	fmt.Printf("\nIn-place change of 10%% of a 100 MiB file: mlstate uploaded %.1f MiB (%.0f%% of the file); mc and rclone re-upload whole files.\n",
		float64(inPlace)/(1<<20), float64(inPlace)*100/(100<<20))
	return nil
}

func runDataset(srv *minioServer, dir string) error {
	src := filepath.Join(dir, "src")
	fmt.Fprintf(os.Stderr, "dataset shape: generating %d×4 KiB in %s\n", *dataset, src)
	if err := generateFiles(src, *dataset, 4<<10, 0); err != nil {
		return err
	}
	tools, err := newTools(*binDir, srv, dir, "data", peerList())
	if err != nil {
		return err
	}
	b := &bench{tools: tools}
	if err := b.phase("first push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := b.phase("no-op re-push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := b.pull(dir); err != nil {
		return err
	}
	if err := b.check(src, dir); err != nil {
		return err
	}
	fmt.Printf("\n### %d × 4 KiB\n", *dataset)
	printTable(os.Stdout, tools, b.rows)
	return nil
}

// runScale measures mlstate alone on n tiny files, 1,000 per directory (a
// dataset's usual sharding): what it costs per file, not per byte.
func runScale(srv *minioServer, dir string, n int) error {
	src := filepath.Join(dir, "src")
	fmt.Fprintf(os.Stderr, "scale run: generating %d×64 B in %s\n", n, src)
	if err := generateFiles(src, n, 64, 1000); err != nil {
		return err
	}
	tools, err := newTools(*binDir, srv, dir, "scale", nil)
	if err != nil {
		return err
	}
	b := &bench{tools: tools}
	if err := b.phase("first push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := b.phase("no-op re-push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := b.pull(dir); err != nil {
		return err
	}
	if err := b.check(src, dir); err != nil {
		return err
	}
	fmt.Printf("\n### scale: %d × 64 B (mlstate only)\n\n| phase | seconds | CPU seconds (user + system) | peak RSS (MiB) |\n|---|---:|---:|---:|\n", n)
	for _, r := range b.rows {
		fmt.Printf("| %s | %.2f | %.2f | %d |\n", r.phase, r.m[0].secs, r.m[0].cpu, r.m[0].rssKiB>>10)
	}
	return nil
}

func peerList() []string {
	var out []string
	for _, p := range strings.Split(*peers, ",") {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
