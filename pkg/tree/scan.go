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
