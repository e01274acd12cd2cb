package tree

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// resolveRoot follows a root that is a symlink (a stage directory is often
// a link to the volume), so the walk sees the directory and not one link.
// Symlinks below the root are never followed. A root that is a symlink to
// nothing is refused, naming both.
func resolveRoot(root string, log *slog.Logger) (string, error) {
	fi, err := os.Lstat(root)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return root, nil // scan reports a missing root
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		target, _ := os.Readlink(root)
		return "", fmt.Errorf("%w: %s is a symlink to %s, which cannot be followed (%v); fix the link or pass the directory itself", ErrBadSource, root, target, err)
	}
	log.Info("directory is a symlink; using the directory it points to", "path", root, "resolved", real)
	return real, nil
}

// lostFound is the directory mkfs.ext4 creates at the root of a file
// system, owned by root with mode 0700. On a PVC it is metadata, not data:
// a push run as a non-root user cannot read it, and a pull must not remove
// it. Only the one at a volume's root is treated so.
const lostFound = "lost+found"

// isVolumeRoot reports whether dir is the root of a mounted file system
// (its parent is on another device).
func isVolumeRoot(dir string, fi fs.FileInfo) bool {
	parent, err := os.Stat(filepath.Dir(dir))
	if err != nil {
		return false
	}
	return dev(parent) != dev(fi) || filepath.Dir(dir) == dir
}
