package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteRootFS writes the base layer's files into dir, for the Dockerfile's
// final stage to copy, so images built with Docker hold the same users, CA
// roots and directories as the ones this program assembles. Ownership is set
// only when running as root (as in a Docker build stage).
func WriteRootFS(dir string) error {
	for _, f := range baseFiles() {
		path := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(f.name, "/")))
		mode := fs.FileMode(f.mode & 0o777)
		if f.mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		var err error
		if strings.HasSuffix(f.name, "/") {
			err = os.MkdirAll(path, 0o755)
		} else {
			err = os.WriteFile(path, f.data, 0o644)
		}
		if err == nil {
			err = os.Chmod(path, mode) // exact bits, whatever the umask
		}
		if err == nil && os.Geteuid() == 0 {
			err = os.Lchown(path, f.uid, f.uid)
		}
		if err != nil {
			return fmt.Errorf("write root file system: %w", err)
		}
	}
	return nil
}
