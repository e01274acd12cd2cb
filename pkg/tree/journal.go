package tree

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A target that is itself a mount point (a pod's volume) cannot be
// swapped in one rename: its top-level entries are switched one by one.
// That switch is made recoverable by a journal, written (and synced)
// before the first entry moves: <stage>.journal, next to the staging
// directory inside the target. It names each top-level entry with the
// inode of its new version. A pull or push that finds a journal whose
// staging directory no live pull holds finishes the switch: everything in
// it was verified before the journal was written, so rolling forward is
// always right. An entry whose inode is already in the target is done;
// any other is moved in.
const journalSuffix = ".journal"

type journal struct {
	Delete  bool           `json:"delete"`
	Entries []journalEntry `json:"entries"`
}

type journalEntry struct {
	Name string `json:"name"`
	Ino  uint64 `json:"ino"`
}

func ino(p string) (uint64, bool) {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// writeJournal records the switch about to happen, durably.
func writeJournal(stage string, names []string, del bool) (journal, error) {
	j := journal{Delete: del}
	for _, n := range names {
		i, ok := ino(filepath.Join(stage, n))
		if !ok {
			return j, fmt.Errorf("journal: %s missing from the staged tree", n)
		}
		j.Entries = append(j.Entries, journalEntry{Name: n, Ino: i})
	}
	data, err := json.Marshal(j)
	if err != nil {
		return j, err
	}
	p := stage + journalSuffix
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return j, fmt.Errorf("write switch journal: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDirOf(p)
	}
	if err != nil {
		return j, fmt.Errorf("write switch journal: %w", err)
	}
	return j, nil
}

func syncDirOf(p string) error {
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// switchEntries moves the journalled entries from stage into target,
// skipping those already there, then removes what the tree does not hold
// when the journal says delete.
func switchEntries(stage, target string, j journal, log *slog.Logger) error {
	top := map[string]bool{}
	for _, e := range j.Entries {
		top[e.Name] = true
		dst := filepath.Join(target, e.Name)
		if i, ok := ino(dst); ok && i == e.Ino {
			continue // already switched
		}
		if err := replace(filepath.Join(stage, e.Name), dst); err != nil {
			return fmt.Errorf("move %s into place: %w", dst, err)
		}
	}
	if !j.Delete {
		return nil
	}
	entries, err := os.ReadDir(target)
	if err != nil {
		return err
	}
	for _, e := range entries {
		// The target is a volume's root here (the switch goes entry by
		// entry only into a mount point): its lost+found stays.
		if !top[e.Name()] && !strings.HasPrefix(e.Name(), stagePrefix) && e.Name() != lostFound {
			if err := removeOldTree(filepath.Join(target, e.Name())); err != nil {
				log.Warn("the pulled tree is in place, but an entry it does not hold could not be removed", "path", filepath.Join(target, e.Name()), "error", err.Error())
			}
		}
	}
	return nil
}

// recoverJournals finishes the switches into target that a killed pull
// left half done (see journalSuffix).
func recoverJournals(target string, log *slog.Logger) error {
	journals, _ := filepath.Glob(filepath.Join(target, globEscape(stagePrefix+filepath.Base(target)+"-")+"*"+journalSuffix))
	for _, jp := range journals {
		stage := strings.TrimSuffix(jp, journalSuffix)
		f, err := os.Open(stage)
		if err != nil {
			_ = os.Remove(jp) // the switch had finished; only the journal was left
			continue
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			continue // a pull is switching right now
		}
		data, err := os.ReadFile(jp)
		var j journal
		if err == nil {
			err = json.Unmarshal(data, &j)
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("read the journal of an interrupted pull %s: %w (move the entries of %s into %s by hand)", jp, err, stage, target)
		}
		log.Warn("a pull into this mount point was interrupted while switching entries; finishing it", "path", target, "journal", jp)
		err = switchEntries(stage, target, j, log)
		if err == nil {
			err = os.Remove(jp)
		}
		if err == nil {
			if rerr := removeTree(stage); rerr != nil {
				log.Warn("could not remove the old entries of the interrupted pull; remove them by hand", "path", stage, "error", rerr.Error())
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("finish an interrupted pull into %s: %w", target, err)
		}
	}
	return nil
}
