package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// restic and kopia pack small files into larger objects with an index:
// the peers to beat on dataset-shaped trees. Both run with their defaults,
// as a new user would, each with its own repository in the same MinIO.

type resticTool struct {
	bin, src string
	env      []string
}

func newRestic(bin string, env []string, endpoint, tag, work string) (*resticTool, error) {
	r := &resticTool{bin: bin, env: append(env,
		"RESTIC_REPOSITORY=s3:http://"+endpoint+"/restic-"+tag,
		"RESTIC_PASSWORD=bench-"+randHex(8),
		"RESTIC_CACHE_DIR="+filepath.Join(work, "restic-cache"))}
	if _, err := runCmd(r.env, io.Discard, bin, "init"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *resticTool) name() string { return "restic" }

func (r *resticTool) push(src string) (measure, error) {
	r.src = src
	return runCmd(r.env, io.Discard, r.bin, "backup", "--quiet", "--host", "bench", src)
}

// pull restores the directory itself (latest:<src>), not the absolute path
// leading to it.
func (r *resticTool) pull(dst string) (measure, error) {
	return runCmd(r.env, io.Discard, r.bin, "restore", "--quiet", "latest:"+r.src, "--target", dst)
}

type kopiaTool struct {
	bin, src string
	env      []string
}

func newKopia(bin string, env []string, s *minioServer, tag, work string) (*kopiaTool, error) {
	dir := filepath.Join(work, "kopia-"+tag)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k := &kopiaTool{bin: bin, env: append(env,
		"KOPIA_PASSWORD=bench-"+randHex(8),
		"KOPIA_CONFIG_PATH="+filepath.Join(dir, "repository.config"),
		"KOPIA_CACHE_DIRECTORY="+filepath.Join(dir, "cache"),
		"KOPIA_LOG_DIR="+filepath.Join(dir, "logs"),
		"KOPIA_CHECK_FOR_UPDATES=false",
		"AWS_ACCESS_KEY_ID="+s.ak, "AWS_SECRET_ACCESS_KEY="+s.sk)}
	if _, err := runCmd(k.env, io.Discard, bin, "repository", "create", "s3", "--bucket", "kopia-"+tag,
		"--endpoint", s.endpoint, "--disable-tls"); err != nil {
		return nil, fmt.Errorf("create kopia repository: %w", err)
	}
	return k, nil
}

func (k *kopiaTool) name() string { return "kopia" }

func (k *kopiaTool) push(src string) (measure, error) {
	k.src = src
	return runCmd(k.env, io.Discard, k.bin, "snapshot", "create", "--no-progress", src)
}

// pull restores the latest snapshot of the source path the pushes used.
func (k *kopiaTool) pull(dst string) (measure, error) {
	return runCmd(k.env, io.Discard, k.bin, "restore", "--no-progress", k.src, dst)
}
