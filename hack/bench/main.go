// Command bench measures mlstate's stage step against `mc mirror` and
// `rclone copy` on the same MinIO server and the same ML-like tree (many
// small shards and a few large checkpoints), and prints a table. Run it
// through `make bench`, which builds the tools it needs.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

var (
	binDir   = flag.String("bin", "bin/bench", "directory with stage and mc")
	minioBin = flag.String("minio", "bin/testenv/minio/minio", "MinIO server binary")
	work     = flag.String("work", "", "scratch directory (default: a new temp dir, removed at the end)")
	small    = flag.Int("small", 1000, "number of 100 KiB files")
	big      = flag.Int("big", 8, "number of 100 MiB files")
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
	src := filepath.Join(dir, "src")
	fmt.Fprintf(os.Stderr, "generating %d×100 KiB + %d×100 MiB in %s\n", *small, *big, src)
	if err := generate(src, *small, *big); err != nil {
		return err
	}
	tools, err := newTools(*binDir, srv, dir)
	if err != nil {
		return err
	}
	var rows []row
	phase := func(name string, fn func(t tool) (measure, error)) error {
		r := row{phase: name}
		for _, t := range tools {
			fmt.Fprintf(os.Stderr, "%-28s %-8s ", name, t.name())
			m, err := fn(t)
			if err != nil {
				return fmt.Errorf("%s %s: %w", name, t.name(), err)
			}
			fmt.Fprintf(os.Stderr, "%6.2fs  %4d MiB RSS\n", m.secs, m.rssKiB>>10)
			r.m = append(r.m, m)
		}
		rows = append(rows, r)
		return nil
	}
	if err := phase("first push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := phase("no-op re-push", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := changeSmall(src, *small/20); err != nil {
		return err
	}
	if err := phase("push, 5% small files changed", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	if err := changeInPlace(filepath.Join(src, "ckpt", "model-0.bin")); err != nil {
		return err
	}
	if err := phase("push, 10% of a big file", func(t tool) (measure, error) { return t.push(src) }); err != nil {
		return err
	}
	inPlace := rows[len(rows)-1].m[0].uploaded
	if err := phase("pull into empty dir", func(t tool) (measure, error) {
		return t.pull(filepath.Join(dir, "pull-"+t.name()))
	}); err != nil {
		return err
	}
	for _, t := range tools {
		if err := sameTree(src, filepath.Join(dir, "pull-"+t.name())); err != nil {
			return fmt.Errorf("%s pulled a different tree: %w", t.name(), err)
		}
	}
	printTable(os.Stdout, tools, rows, inPlace)
	return nil
}

// generate writes the ML-like tree: dataset shards and model checkpoints.
func generate(root string, nSmall, nBig int) error {
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range nSmall {
		if err := writeRandom(filepath.Join(root, "data", fmt.Sprintf("shard-%05d", i)), 100<<10, rng); err != nil {
			return err
		}
	}
	for i := range nBig {
		if err := writeRandom(filepath.Join(root, "ckpt", fmt.Sprintf("model-%d.bin", i)), 100<<20, rng); err != nil {
			return err
		}
	}
	return nil
}

func writeRandom(path string, size int, rng *rand.Rand) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, len(buf))
		fillRandom(buf[:n], rng)
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		size -= n
	}
	return f.Close()
}

func fillRandom(b []byte, rng *rand.Rand) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// changeSmall rewrites n shards with new content (a new mtime too).
func changeSmall(root string, n int) error {
	rng := rand.New(rand.NewChaCha8([32]byte{2}))
	for i := range n {
		p := filepath.Join(root, "data", fmt.Sprintf("shard-%05d", i*20))
		if err := writeRandom(p, 100<<10, rng); err != nil {
			return err
		}
	}
	return touchLater(root, n)
}

// changeInPlace overwrites 10% of the file's bytes, contiguous from 40%.
func changeInPlace(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	buf := make([]byte, fi.Size()/10)
	fillRandom(buf, rand.New(rand.NewChaCha8([32]byte{3})))
	if _, err := f.WriteAt(buf, fi.Size()*4/10); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	later := time.Now().Add(2 * time.Second)
	return os.Chtimes(path, later, later)
}

// touchLater makes sure changed files' mtimes differ from the last push even
// on coarse-grained clocks.
func touchLater(root string, n int) error {
	later := time.Now().Add(2 * time.Second)
	for i := range n {
		p := filepath.Join(root, "data", fmt.Sprintf("shard-%05d", i*20))
		if err := os.Chtimes(p, later, later); err != nil {
			return err
		}
	}
	return nil
}
