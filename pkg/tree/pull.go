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
	flat, root, err := loadRoot(ctx, st, id)
	if err != nil {
		return res, err
	}
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
	mat, err := materialize(ctx, st, flat, root, pl.stage, opts, &res)
	if err != nil {
		return res, err
	}
	if !opts.Delete && pl.exists {
		if err := keepExtras(ctx, target, pl.stage, pl.inside); err != nil {
			return res, err
		}
	}
	if err := mat.finishDirs(pl.stage); err != nil {
		return res, err
	}
	if opts.Sync {
		if err := syncFS(pl.stage); err != nil {
			return res, err
		}
	}
	if err := pl.commit(mat.top, opts.Delete, opts.Logger); err != nil {
		return res, err
	}
	ok = true
	return res, nil
}

// materialized is what a pull remembers of the tree it wrote: the
// directories, whose modes and mtimes are set last, and the top-level names.
type materialized struct {
	dirs []dirMeta // in walk order: a directory before what it holds
	top  []string
}

type dirMeta struct {
	path  string
	mode  uint32
	mtime int64
}

// materialize writes every entry of tree res.ID under root in one walk over
// its documents: directories (owner writable until finishDirs), empty
// files and symlinks as they come, file contents by download, in parallel,
// as the walk goes on. Each file gets its mode and mtime after its last
// chunk. Memory holds the directories' metadata, not the files'.
func materialize(ctx context.Context, st store.Store, flat *Manifest, doc *dirDoc, root string, opts PullOptions, res *PullResult) (*materialized, error) {
	// The index says which chunks are in packs; it is read before the walk
	// and held whole (see the README on memory at a million files).
	ix, _, err := loadIndex(ctx, st, res.ID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	mat := &materialized{}
	files := make(chan *Entry)
	var total int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(files)
		// Before each directory document is read, download is told to
		// send the packed chunks it gathered (see walkPause).
		pause := func(ID) bool {
			select {
			case files <- walkPause:
			case <-ctx.Done():
			}
			return true
		}
		err := walkRoot(ctx, st, flat, doc, pause, func(e *Entry) error {
			if !strings.Contains(e.Path, "/") {
				mat.top = append(mat.top, e.Path)
			}
			p := filepath.Join(root, filepath.FromSlash(e.Path))
			switch e.Type {
			case TypeDir:
				if err := os.Mkdir(p, 0o700); err != nil {
					return fmt.Errorf("pull %s: %w", e.Path, err)
				}
				mat.dirs = append(mat.dirs, dirMeta{e.Path, e.Mode, e.MTime})
				return nil
			case TypeSymlink:
				if err := os.Symlink(e.Target, p); err != nil {
					return fmt.Errorf("pull %s: %w", e.Path, err)
				}
				if err := setMTime(p, e.MTime); err != nil {
					return fmt.Errorf("pull %s: %w", e.Path, err)
				}
				return nil
			}
			res.Files++
			res.Bytes += e.Size
			if !opts.KeepSetID && e.Mode&0o6000 != 0 {
				e.Mode &^= 0o6000
				opts.Logger.Warn("dropped the setuid/setgid bits of a restored file (stage pull --keep-setid keeps them)", "path", e.Path)
			}
			if len(e.Chunks) == 0 {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
				if err != nil {
					return fmt.Errorf("pull %s: %w", e.Path, err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("pull %s: %w", e.Path, err)
				}
				return finishFile(e, p)
			}
			total += e.Size
			opts.Progress.SetTotal(total)
			select {
			case files <- e:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		if err != nil {
			cancel(err)
		}
	}()
	// download returns once the walk closed files, or with the walk's
	// error (it cancels ctx before it closes files).
	n, err := download(ctx, st, res.ID, ix, files, root, opts, finishFile)
	if err != nil {
		cancel(err) // stop the walk
	}
	<-done
	res.BytesDownloaded = n
	if err != nil {
		return nil, err
	}
	return mat, nil
}

// finishFile sets a restored file's mode and mtime, once its content is
// written.
func finishFile(e *Entry, p string) error {
	if err := os.Chmod(p, fileMode(e.Mode)); err != nil {
		return fmt.Errorf("pull %s: %w", e.Path, err)
	}
	if err := setMTime(p, e.MTime); err != nil {
		return fmt.Errorf("pull %s: %w", e.Path, err)
	}
	return nil
}

// finishDirs sets directory modes and mtimes, deepest first, after nothing
// else will be written into them.
func (mat *materialized) finishDirs(root string) error {
	for i := len(mat.dirs) - 1; i >= 0; i-- {
		d := mat.dirs[i]
		p := filepath.Join(root, filepath.FromSlash(d.path))
		if err := os.Chmod(p, fileMode(d.mode)); err != nil {
			return fmt.Errorf("pull %s: %w", d.path, err)
		}
		if err := setMTime(p, d.mtime); err != nil {
			return fmt.Errorf("pull %s: %w", d.path, err)
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
