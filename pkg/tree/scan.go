package tree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// scan lists the tree under root: files, directories and symlinks, sorted
// by path, without content. Sockets, devices and pipes are skipped with a
// warning: they have no content to snapshot.
//
// Unless crossMounts is set, the walk stays on root's file system: a volume
// mounted below root is recorded as its (empty) mount point directory and
// skipped with a warning, like tar --one-file-system.
func scan(ctx context.Context, root string, log *slog.Logger, crossMounts bool) ([]Entry, int, error) {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s does not exist", ErrBadSource, root)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	if !fi.IsDir() {
		return nil, 0, fmt.Errorf("%w: %s is not a directory", ErrBadSource, root)
	}
	rootDev := dev(fi)
	volumeRoot := isVolumeRoot(root, fi)
	var entries []Entry
	skipped := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), stagePrefix) {
			// A pull's staging directory or journal, left by one killed
			// before it cleaned up, or in use by one running: not data.
			log.Warn("skipping the staging directory of a pull; the next pull removes it once no pull uses it", "path", p)
			skipped++
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if volumeRoot && rel == lostFound && d.IsDir() {
			log.Info("skipping lost+found at the volume's root: file-system metadata, not data", "path", p)
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		e := Entry{Path: filepath.ToSlash(rel), Mode: unixMode(info.Mode()), MTime: info.ModTime().UnixNano()}
		if !crossMounts && dev(info) != rootDev {
			log.Warn("skipping a mounted volume: another file system (pass --cross-mounts to include it)", "path", p)
			skipped++
			if d.IsDir() {
				e.Type = TypeDir
				entries = append(entries, e)
				return filepath.SkipDir
			}
			return nil
		}
		switch t := info.Mode().Type(); {
		case t == 0:
			e.Type, e.Size = TypeFile, info.Size()
		case t == fs.ModeDir:
			e.Type = TypeDir
		case t == fs.ModeSymlink:
			e.Type = TypeSymlink
			if e.Target, err = os.Readlink(p); err != nil {
				return fmt.Errorf("read symlink %s: %w", p, err)
			}
		default:
			log.Warn("skipping special file", "path", e.Path, "type", t.String())
			skipped++
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	// WalkDir visits "a/b" before "a-b"; manifests sort by the path string.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	return entries, skipped, nil
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
