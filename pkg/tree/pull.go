package tree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mlstate/mlstate/pkg/store"
)

// PullOptions tune Pull. The zero value keeps files in the target that are
// not in the tree, uses DefaultConcurrency downloads, and is silent.
type PullOptions struct {
	// Delete removes everything in the target that is not in the tree, so
	// the directory becomes exactly the snapshot.
	Delete bool
	// Concurrency is the number of chunks downloaded at once; 0 means DefaultConcurrency.
	Concurrency int
	// Logger receives debug detail; nil discards.
	Logger *slog.Logger
	// Progress receives the bytes to download and downloaded so far.
	Progress Counter
	// Sync flushes the pulled data to disk before the switch, so that even a
	// power loss cannot leave the new tree half written. Off by default: a
	// killed process never can, and syncing the file system is slow.
	Sync bool
	// KeepSetID restores the setuid and setgid bits of files. Off by
	// default: a pull (often as root) must not create setuid-root programs
	// from a store that others can write; the bits are dropped with a
	// warning. Directories keep setgid (group inheritance) always.
	KeepSetID bool
	// StallTimeout ends a chunk download that received nothing for this
	// long, and gets the chunk again; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is how long a download may receive nothing before it
// is given up and retried.
const DefaultStallTimeout = time.Minute

// PullResult describes a restored tree.
type PullResult struct {
	ID              ID    `json:"tree"`
	Files           int64 `json:"files"`
	Bytes           int64 `json:"bytes"`
	BytesDownloaded int64 `json:"bytes-downloaded"`
}

// Pull restores tree id into dir. Everything is written into a staging
// directory next to dir (inside dir when dir is a mount point), every chunk is
// checked against its digest, and only then does the staging directory
// replace dir. A pull that fails or is interrupted leaves dir as it was.
func Pull(ctx context.Context, st store.Store, id ID, dir string, opts PullOptions) (PullResult, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Progress == nil {
		opts.Progress = nopCounter{}
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	res := PullResult{ID: id}
	m, err := Load(ctx, st, id)
	if err != nil {
		return res, err
	}
	res.Files, res.Bytes = m.Files()
	target, err := filepath.Abs(dir)
	if err != nil {
		return res, err
	}
	if err := recoverSwitch(target, opts.Logger); err != nil {
		return res, err
	}
	if target, err = resolveRoot(target, opts.Logger); err != nil {
		return res, err
	}
	if err := recoverJournals(target, opts.Logger); err != nil {
		return res, err
	}
	pl, err := newPlace(target)
	if err != nil {
		return res, err
	}
	defer pl.unlock()
	cleanLeftovers(pl, opts.Logger)
	ok := false
	defer func() {
		if !ok {
			pl.abort()
		}
	}()
	if err := materialize(ctx, st, m, pl.stage, opts, &res); err != nil {
		return res, err
	}
	if !opts.Delete && pl.exists {
		if err := keepExtras(ctx, m, target, pl.stage, pl.inside); err != nil {
			return res, err
		}
	}
	if err := finishDirs(m, pl.stage); err != nil {
		return res, err
	}
	if opts.Sync {
		if err := syncFS(pl.stage); err != nil {
			return res, err
		}
	}
	if err := pl.commit(m, opts.Delete, opts.Logger); err != nil {
		return res, err
	}
	ok = true
	return res, nil
}

// materialize writes every entry of m under root: directories and empty
// files first (directories owner writable until finishDirs), then file
// contents in parallel, then symlinks.
func materialize(ctx context.Context, st store.Store, m *Manifest, root string, opts PullOptions, res *PullResult) error {
	var total int64
	for _, e := range m.Entries {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		switch e.Type {
		case TypeDir:
			if err := os.Mkdir(p, 0o700); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
		case TypeFile:
			total += e.Size
			if len(e.Chunks) > 0 {
				continue // created by the download
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
			if err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
		}
	}
	opts.Progress.SetTotal(total)
	ix, _, err := loadIndex(ctx, st, res.ID)
	if err != nil {
		return err
	}
	n, err := download(ctx, st, res.ID, m, ix, root, opts)
	res.BytesDownloaded = n
	if err != nil {
		return err
	}
	for _, e := range m.Entries {
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		switch e.Type {
		case TypeFile:
			mode := e.Mode
			if !opts.KeepSetID && mode&0o6000 != 0 {
				mode &^= 0o6000
				opts.Logger.Warn("dropped the setuid/setgid bits of a restored file (stage pull --keep-setid keeps them)", "path", e.Path)
			}
			if err := os.Chmod(p, fileMode(mode)); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
			if err := setMTime(p, e.MTime); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
		case TypeSymlink:
			if err := os.Symlink(e.Target, p); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
			if err := setMTime(p, e.MTime); err != nil {
				return fmt.Errorf("pull %s: %w", e.Path, err)
			}
		}
	}
	return nil
}

// finishDirs sets directory modes and mtimes, deepest first, after nothing
// else will be written into them.
func finishDirs(m *Manifest, root string) error {
	for i := len(m.Entries) - 1; i >= 0; i-- {
		e := m.Entries[i]
		if e.Type != TypeDir {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(e.Path))
		if err := os.Chmod(p, fileMode(e.Mode)); err != nil {
			return fmt.Errorf("pull %s: %w", e.Path, err)
		}
		if err := setMTime(p, e.MTime); err != nil {
			return fmt.Errorf("pull %s: %w", e.Path, err)
		}
	}
	return nil
}

// setMTime sets atime and mtime without following a symlink.
func setMTime(p string, ns int64) error {
	ts := unix.NsecToTimespec(ns)
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// syncFS flushes the staging directory's file system once, instead of one
// fsync per file, before the switch makes the new tree visible.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// cleanLeftovers removes the staging directories of earlier pulls that
// were killed before they could clean up: one whose lock can be taken has
// no pull behind it any more. One still locked belongs to a pull running
// now and is left alone, with a warning.
func cleanLeftovers(pl *place, log *slog.Logger) {
	dir := filepath.Dir(pl.stage)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p == pl.stage || !e.IsDir() || !strings.HasPrefix(e.Name(), stagePrefix+filepath.Base(pl.target)+"-") || strings.HasSuffix(e.Name(), oldSuffix) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			log.Warn("staging directory of another pull that is still running; left alone", "path", p)
			continue
		}
		err = removeTree(p)
		f.Close()
		if err != nil {
			log.Warn("could not remove the staging directory of an interrupted pull; remove it by hand", "path", p, "error", err.Error())
			continue
		}
		log.Info("removed the staging directory of an interrupted pull", "path", p)
	}
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
