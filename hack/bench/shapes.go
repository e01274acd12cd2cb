package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// generateCheckpoint writes the checkpoint-shaped tree: dataset shards and
// model checkpoints.
func generateCheckpoint(root string, nSmall, nBig int) error {
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

// generateFiles writes n files of size random bytes under root/data, perDir
// to a directory (0: all in one).
func generateFiles(root string, n, size, perDir int) error {
	rng := rand.New(rand.NewChaCha8([32]byte{4}))
	buf := make([]byte, size)
	made := map[string]bool{}
	for i := range n {
		dir := filepath.Join(root, "data")
		if perDir > 0 {
			dir = filepath.Join(dir, fmt.Sprintf("part-%04d", i/perDir))
		}
		if !made[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			made[dir] = true
		}
		fillRandom(buf, rng)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rec-%07d", i)), buf, 0o644); err != nil {
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
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
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
