package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A push walks the directory depth first, one directory at a time: it
// lists and stats the directory, pushes its subdirectories, and then either
// recognises it as unchanged from the parent tree (same stat, see statOf:
// its document is reused without being read) or reads its changed files,
// with Concurrency readers, and stores its document. Memory is bounded by
// the directories on the way down, not by the tree. Chunks upload in the
// background throughout; the root is stored only after every chunk and
// document it names.

// checkRoot refuses a root that is missing or not a directory and returns
// its device, which the walk stays on (see PushOptions.CrossMounts), and
// whether it is a volume's root (whose lost+found is left out).
func checkRoot(root string) (uint64, bool, error) {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, fmt.Errorf("%w: %s does not exist", ErrBadSource, root)
	}
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", ErrBadSource, err)
	}
	if !fi.IsDir() {
		return 0, false, fmt.Errorf("%w: %s is not a directory", ErrBadSource, root)
	}
	return dev(fi), isVolumeRoot(root, fi), nil
}

// pushTree pushes the whole directory and returns the root's document,
// once everything it names is stored.
func (p *pusher) pushTree(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	p.cancel = cancel
	p.up = newUploader(ctx, p.st, p.opts.Concurrency, p.opts.StallTimeout, func(n int) {
		p.uploaded.Add(int64(n))
	}, cancel)
	p.packer = newPacker(p.up)
	p.dirSem = make(chan struct{}, p.opts.Concurrency)
	p.walkers = make(chan struct{}, runtime.GOMAXPROCS(0)-1)
	_, _, data, err := p.pushDir(ctx, "", nil, false)
	if err == nil && ctx.Err() == nil {
		// The last, partly filled pack; the index names it only once
		// every upload has succeeded.
		if ferr := p.packer.flush(ctx); ferr != nil {
			cancel(ferr)
		}
	}
	p.up.close()
	p.dirWG.Wait()
	p.res.BytesUploaded, p.res.ChunksUploaded, p.res.BytesRead = p.uploaded.Load(), p.chunks.Load(), p.read.Load()
	p.res.DirsUploaded = p.dirs.Load()
	if cause := context.Cause(ctx); cause != nil {
		return nil, cause
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// pushDir pushes directory rel ("" for the root) and returns its document's
// ID, its stat and, when it was encoded here, the document. ref is the
// parent tree's entry for the directory (nil when it had none); mount
// records a volume mounted there as an empty directory.
func (p *pusher) pushDir(ctx context.Context, rel string, ref *Entry, mount bool) (id, stat ID, data []byte, err error) {
	prefix := ""
	if rel != "" {
		prefix = rel + "/"
	}
	var entries []Entry
	if !mount {
		if entries, err = p.list(ctx, rel, prefix); err != nil {
			return id, stat, nil, err
		}
	}
	var old map[string]*Entry
	loaded := false
	oldEntries := func() map[string]*Entry {
		if !loaded {
			old, loaded = p.oldDir(ctx, rel, ref), true
		}
		return old
	}
	// Subdirectories are pushed by spare walkers when there are any (the
	// stats of a large tree are most of a no-op push), else here.
	var wg sync.WaitGroup
	errs := make([]error, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.Type != TypeDir {
			continue
		}
		var cref *Entry
		if rel == "" || ref != nil {
			if pe := oldEntries()[e.Path[len(prefix):]]; pe != nil && pe.Type == TypeDir {
				cref = pe
			}
		}
		sub := func() {
			tree, subStat, _, err := p.pushDir(ctx, e.Path, cref, e.Tree != nil)
			e.Tree, e.Stat, errs[i] = &tree, &subStat, err
			if err != nil {
				p.cancel(err) // stop the other walkers
			}
		}
		select {
		case p.walkers <- struct{}{}:
			wg.Add(1)
			go func() {
				defer func() { <-p.walkers; wg.Done() }()
				sub()
			}()
		default:
			sub()
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return id, stat, nil, err
		}
	}
	stat = statBelow(entries, prefix)
	if ref != nil && ref.Tree != nil && ref.Stat != nil && *ref.Stat == stat && !p.opts.Rehash && p.trusted(entries) {
		p.count(entries, true)
		return *ref.Tree, stat, nil, nil
	}
	if err := p.readChanged(ctx, entries, oldEntries(), prefix); err != nil {
		return id, stat, nil, err
	}
	p.count(entries, false)
	named := namedCopy(entries, prefix)
	if data, err = encodeDir(named); err != nil {
		return id, stat, nil, err
	}
	id, stat = Sum(data), statOf(named)
	if rel != "" && (ref == nil || ref.Tree == nil || *ref.Tree != id) {
		p.putDir(ctx, id, data)
	}
	return id, stat, data, nil
}

// namedCopy returns entries with their paths cut to the name below prefix,
// as a directory's document holds them.
func namedCopy(entries []Entry, prefix string) []Entry {
	out := make([]Entry, len(entries))
	for i := range entries {
		out[i] = entries[i]
		out[i].Path = entries[i].Path[len(prefix):]
	}
	return out
}

func (p *pusher) skipped() {
	p.mu.Lock()
	p.res.Skipped++
	p.mu.Unlock()
}

// trusted reports whether every file's mtime is old enough to trust (see
// racyCutoff).
func (p *pusher) trusted(entries []Entry) bool {
	for i := range entries {
		if entries[i].Type == TypeFile && entries[i].MTime >= p.racyAfter {
			return false
		}
	}
	return true
}

func (p *pusher) count(entries []Entry, reused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range entries {
		if e := &entries[i]; e.Type == TypeFile {
			p.res.Files++
			p.res.Bytes += e.Size
			if reused {
				p.res.FilesReused++
			}
		}
	}
}

// oldDir returns the parent tree's entries of directory rel by name: nil
// when the parent had no such directory, or its document cannot be read
// (then the directory's files are all read: the push is as good).
func (p *pusher) oldDir(ctx context.Context, rel string, ref *Entry) map[string]*Entry {
	switch {
	case p.parent == nil:
		return nil
	case p.parent.flat != nil:
		if rel != "" && ref == nil {
			return nil
		}
		return p.parent.flat[rel]
	case rel == "":
		return p.parent.root
	case ref == nil || ref.Tree == nil:
		return nil
	}
	d, err := loadDir(ctx, p.st, *ref.Tree, ref.Stat, rel)
	if err != nil {
		if ctx.Err() == nil {
			p.opts.Logger.Warn("a directory of the parent tree cannot be read; reading its files", "path", rel, "error", err.Error())
		}
		return nil
	}
	for i := range d.Entries {
		p.known.add(d.Entries[i].Chunks)
	}
	return byName(d.Entries, "")
}

// readChanged copies chunk lists from the parent for files that match it
// (same size and trusted mtime) and reads the others, with Concurrency
// readers for small files and Concurrency/2 for large ones, so the store
// gets both kinds of request at once. It returns once every file is read;
// their chunks may still be uploading.
func (p *pusher) readChanged(ctx context.Context, entries []Entry, old map[string]*Entry, prefix string) error {
	var small, large []int
	var reused, total int64
	for i := range entries {
		e := &entries[i]
		if e.Type != TypeFile {
			continue
		}
		if pe := old[e.Path[len(prefix):]]; pe != nil && !p.opts.Rehash && pe.Type == TypeFile && pe.Size == e.Size && pe.MTime == e.MTime && pe.MTime < p.racyAfter {
			e.Chunks = pe.Chunks
			reused++
			continue
		}
		total += e.Size
		if e.Size > minChunk {
			large = append(large, i)
		} else {
			small = append(small, i)
		}
	}
	p.mu.Lock()
	p.res.FilesReused += reused
	p.total += total
	if total > 0 {
		p.opts.Progress.SetTotal(p.total)
	}
	p.mu.Unlock()
	if len(small)+len(large) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	read := func(i int) {
		if err := p.readFile(ctx, &entries[i], p.up); err != nil {
			p.cancel(err)
		}
	}
	feed(ctx, &wg, small, p.opts.Concurrency, read)
	feed(ctx, &wg, large, max(1, p.opts.Concurrency/2), read)
	wg.Wait()
	return context.Cause(ctx)
}

// putDir stores a directory's document in the background, Concurrency at
// a time; a failure cancels the push.
func (p *pusher) putDir(ctx context.Context, id ID, data []byte) {
	select {
	case p.dirSem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	p.dirWG.Add(1)
	go func() {
		defer func() { <-p.dirSem; p.dirWG.Done() }()
		if err := p.st.Put(ctx, dirKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
			p.cancel(fmt.Errorf("store the document of a directory (%s): %w", id.Short(), err))
			return
		}
		p.dirs.Add(1)
	}()
}

// list reads directory rel: its files, directories and symlinks sorted by
// name, with full paths (prefix + name), without content. Sockets, devices
// and pipes are skipped with a warning: they have no content to snapshot.
// A volume mounted below the root is recorded as its (empty) mount point
// directory, marked by a non-nil Tree for pushDir, and skipped with a
// warning, like tar --one-file-system, unless CrossMounts is set.
//
// Entries are stat'ed relative to the open directory (fstatat) rather
// than by full path: at a million files the stats are most of a no-op
// push, and each full path costs the kernel a lookup of every directory
// above the file.
func (p *pusher) list(ctx context.Context, rel, prefix string) ([]Entry, error) {
	abs := filepath.Join(p.dir, filepath.FromSlash(rel))
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", abs, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", abs, err)
	}
	slices.Sort(names)
	dirfd := int(f.Fd()) // valid until the deferred Close
	log := p.opts.Logger
	entries := make([]Entry, 0, len(names))
	var st unix.Stat_t
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		path := func() string { return filepath.Join(abs, name) }
		if strings.HasPrefix(name, stagePrefix) {
			// A pull's staging directory or journal, left by one killed
			// before it cleaned up, or in use by one running: not data.
			log.Warn("skipping the staging directory of a pull; the next pull removes it once no pull uses it", "path", path())
			p.skipped()
			continue
		}
		serr := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		for serr == unix.EINTR {
			serr = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		}
		if serr != nil {
			return nil, fmt.Errorf("stat %s: %w", path(), &fs.PathError{Op: "lstat", Path: path(), Err: serr})
		}
		typ := st.Mode & unix.S_IFMT
		if rel == "" && p.volumeRoot && name == lostFound && typ == unix.S_IFDIR {
			log.Info("skipping lost+found at the volume's root: file-system metadata, not data", "path", path())
			continue
		}
		e := Entry{Path: prefix + name, Mode: uint32(st.Mode) & 0o7777, MTime: int64(st.Mtim.Sec)*1e9 + int64(st.Mtim.Nsec)}
		if !p.opts.CrossMounts && uint64(st.Dev) != p.rootDev {
			log.Warn("skipping a mounted volume: another file system (pass --cross-mounts to include it)", "path", path())
			p.skipped()
			if typ == unix.S_IFDIR {
				e.Type, e.Tree = TypeDir, &ID{}
				entries = append(entries, e)
			}
			continue
		}
		switch typ {
		case unix.S_IFREG:
			e.Type, e.Size = TypeFile, int64(st.Size)
		case unix.S_IFDIR:
			e.Type = TypeDir
		case unix.S_IFLNK:
			e.Type = TypeSymlink
			if e.Target, err = os.Readlink(path()); err != nil {
				return nil, fmt.Errorf("read symlink %s: %w", path(), err)
			}
		default:
			t := "special file"
			if info, err := os.Lstat(path()); err == nil {
				t = info.Mode().Type().String()
			}
			log.Warn("skipping special file", "path", e.Path, "type", t)
			p.skipped()
			continue
		}
		entries = append(entries, e)
	}
	return entries, nil
}
