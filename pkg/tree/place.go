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
	"syscall"

	"golang.org/x/sys/unix"
)

// place is where a pull stages its tree and how it switches over.
type place struct {
	target string
	stage  string
	exists bool // target existed before the pull
	inside bool // stage is inside target (target is a mount point)
	// lock holds an flock on the staging directory while the pull runs, so
	// a later pull can tell a leftover of a dead pull from one in use.
	lock *os.File
}

// lockedStage creates a staging directory that is locked from the moment
// it carries the staging name: it is made and locked under a temporary
// name first, then renamed.
func lockedStage(dir, base string) (string, *os.File, error) {
	tmp, err := os.MkdirTemp(dir, ".mlstate-new-")
	if err != nil {
		return "", nil, fmt.Errorf("create staging directory: %w", err)
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		_ = os.Remove(tmp)
		return "", nil, fmt.Errorf("lock staging directory: %w", err)
	}
	stage := filepath.Join(dir, stagePrefix+base+"-"+randHex())
	if err := os.Rename(tmp, stage); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return "", nil, fmt.Errorf("create staging directory: %w", err)
	}
	return stage, f, nil
}

// unlock releases the staging lock once the pull is over.
func (pl *place) unlock() {
	if pl.lock != nil {
		pl.lock.Close()
	}
}

const stagePrefix = ".mlstate-pull-"

// oldSuffix marks the old tree during a switch by renames.
const oldSuffix = ".old"

// recoverSwitch finishes or rolls back a switch by renames that was
// interrupted (see exchange): with the target missing, the old tree goes
// back; with the target in place, the old tree is removed.
func recoverSwitch(target string, log *slog.Logger) error {
	parent, base := filepath.Dir(target), filepath.Base(target)
	olds, _ := filepath.Glob(filepath.Join(parent, globEscape(stagePrefix+base+"-")+"*"+oldSuffix))
	for _, old := range olds {
		if _, err := os.Lstat(target); isNotExist(err) {
			log.Warn("a switch to a pulled tree was interrupted before the new tree was in place; restoring the old tree", "path", target, "from", old)
			if err := os.Rename(old, target); err != nil {
				return fmt.Errorf("restore %s after an interrupted pull: %w", target, err)
			}
			continue
		}
		log.Warn("a switch to a pulled tree was interrupted after the new tree was in place; removing the old tree", "path", old)
		if err := removeTree(old); err != nil {
			log.Warn("could not remove the old tree; remove it by hand", "path", old, "error", err.Error())
		}
	}
	return nil
}

// globEscape quotes the glob metacharacters in s.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nestedMount returns a mount point strictly below target, or "". A pull
// replaces the target's directories: a volume mounted in one would be moved
// into the old tree, so such a target is refused. It reads the kernel's
// mount table; where that is unreadable, it compares devices while walking.
func nestedMount(target string) (string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err == nil {
		prefix := target + string(filepath.Separator)
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 {
				if mp := unescapeMount(f[4]); strings.HasPrefix(mp, prefix) {
					return mp, nil
				}
			}
		}
		return "", nil
	}
	fi, err := os.Stat(target)
	if err != nil {
		return "", nil
	}
	root, found := dev(fi), ""
	err = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if i, err := d.Info(); err == nil && dev(i) != root {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found, err
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// newPlace creates the staging directory. It goes next to the target so the
// switch is a rename on one file system; when the target is a mount point
// (a volume in a pod) it goes inside it instead.
func newPlace(target string) (*place, error) {
	pl := &place{target: target}
	parent := filepath.Dir(target)
	fi, err := os.Lstat(target)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("%w: pull target %s exists and is not a directory", ErrBadSource, target)
	case err == nil:
		pl.exists = true
		mp, err := nestedMount(target)
		if err != nil {
			return nil, err
		}
		if mp != "" {
			return nil, fmt.Errorf("%w: pull target %s holds a mounted volume at %s; a pull replaces the directory and must not move a volume: pull into a directory without mounts, or into the mounted volume itself", ErrBadSource, target, mp)
		}
	case isNotExist(err):
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", parent, err)
		}
	default:
		return nil, err
	}
	mode := fs.FileMode(0o755)
	dir := parent
	if pl.exists {
		mode = fi.Mode().Perm()
		pfi, err := os.Stat(parent)
		if err != nil {
			return nil, err
		}
		if dev(pfi) != dev(fi) || target == parent {
			pl.inside, dir = true, target
		}
	}
	if pl.stage, pl.lock, err = lockedStage(dir, filepath.Base(target)); err != nil {
		return nil, err
	}
	if !pl.inside {
		if err := os.Chmod(pl.stage, mode); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func dev(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Dev
	}
	return 0
}

func (pl *place) abort() { _ = removeTree(pl.stage) }

// removeOldTree removes what a switch left behind; a variable so tests
// can make it fail.
var removeOldTree = removeTree

// removeTree removes dir and everything below it on dir's own file system.
// It makes directories writable first (an old tree may hold read-only ones)
// and never descends into another device: a volume mounted below dir is
// left in place, and reported.
func removeTree(dir string) error {
	fi, err := os.Lstat(dir)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return removeOn(dir, fi, dev(fi))
}

func removeOn(p string, fi fs.FileInfo, root uint64) error {
	if !fi.IsDir() {
		return os.Remove(p)
	}
	if dev(fi) != root {
		return fmt.Errorf("%s is another file system (a mount point); left in place", p)
	}
	if fi.Mode().Perm()&0o700 != 0o700 {
		if err := os.Chmod(p, fi.Mode().Perm()|0o700); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		child := filepath.Join(p, e.Name())
		cfi, err := os.Lstat(child)
		if err == nil {
			err = removeOn(child, cfi, root)
		}
		if err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(p); err != nil && !isNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanup removes the old tree after a successful switch. A failure is a
// warning: the target already is the pulled tree.
func (pl *place) cleanup(log *slog.Logger) {
	if err := removeOldTree(pl.stage); err != nil {
		log.Warn("the pulled tree is in place, but the old one could not be removed; remove it by hand", "path", pl.stage, "error", err.Error())
	}
}

// commit makes the staged tree the target; top are its top-level names.
func (pl *place) commit(top []string, del bool, log *slog.Logger) error {
	if pl.inside {
		return pl.commitInside(top, del, log)
	}
	if !pl.exists {
		if err := os.Rename(pl.stage, pl.target); err != nil {
			return fmt.Errorf("move %s into place: %w", pl.target, err)
		}
		return nil
	}
	if err := exchange(pl.stage, pl.target); err != nil {
		return fmt.Errorf("switch %s to the pulled tree: %w", pl.target, err)
	}
	// stage now holds the old tree.
	pl.cleanup(log)
	return nil
}

// exchange swaps two directories atomically (renameat2 RENAME_EXCHANGE),
// falling back to three renames on file systems without it (NFS, FUSE
// answer EINVAL). The fallback is not atomic, but recoverable: a process
// killed inside it leaves the old tree at <stage>.old, which
// recoverSwitch puts back or removes on the next pull or push.
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if err == nil || !(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS)) {
		return err
	}
	old := a + oldSuffix
	if err := os.Rename(b, old); err != nil {
		return err
	}
	if err := os.Rename(a, b); err != nil {
		_ = os.Rename(old, b)
		return err
	}
	return os.Rename(old, a)
}

// commitInside moves each top-level entry of the staged tree into the
// target (a mount point cannot be renamed). All content is verified by then;
// only this last step is per entry rather than a single switch.
func (pl *place) commitInside(names []string, del bool, log *slog.Logger) error {
	j, err := writeJournal(pl.stage, names, del)
	if err != nil {
		return err
	}
	if err := switchEntries(pl.stage, pl.target, j, log); err != nil {
		return err
	}
	if err := os.Remove(pl.stage + journalSuffix); err != nil {
		log.Warn("could not remove the switch journal", "path", pl.stage+journalSuffix, "error", err.Error())
	}
	pl.cleanup(log)
	return nil
}

// replace puts src at dst; whatever was at dst ends up at src.
func replace(src, dst string) error {
	sfi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	dfi, err := os.Lstat(dst)
	if isNotExist(err) {
		return os.Rename(src, dst)
	}
	if err != nil {
		return err
	}
	if sfi.IsDir() || dfi.IsDir() {
		return exchange(src, dst)
	}
	return os.Rename(src, dst)
}

// keepExtras links into the staged tree whatever the target holds that the
// tree does not, so a pull without Delete keeps those files. Hard links do
// not touch the target; it stays as it was until the switch. With inside
// set, top-level extras are skipped: they stay in the target anyway.
// What the tree holds is what the staging directory holds (the whole tree
// is written by now), so no list of the tree's paths is kept in memory.
func keepExtras(ctx context.Context, target, stage string, inside bool) error {
	stageName := filepath.Base(stage)
	staged := func(rel string) string {
		fi, err := os.Lstat(filepath.Join(stage, filepath.FromSlash(rel)))
		switch {
		case err != nil:
			return ""
		case fi.IsDir():
			return TypeDir
		}
		return TypeFile // or a symlink: either replaces what the target has
	}
	return filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == target {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, target+string(filepath.Separator)))
		if inside && !strings.Contains(rel, "/") {
			if rel == stageName {
				return filepath.SkipDir
			}
			if staged(rel) == "" {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		switch t := staged(rel); {
		case t == TypeDir && d.IsDir():
			return nil // merge into it
		case t != "":
			if d.IsDir() {
				return filepath.SkipDir // replaced by the tree's file or symlink
			}
			return nil
		}
		return linkExtra(p, filepath.Join(stage, filepath.FromSlash(rel)), d)
	})
}

func linkExtra(src, dst string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	switch {
	case d.IsDir():
		if err := os.Mkdir(dst, fi.Mode().Perm()|0o700); err != nil {
			return err
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	default:
		return os.Link(src, dst)
	}
}
