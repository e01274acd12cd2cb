package preflight

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkStage yields one line per --stage directory: it must exist, be a
// directory, and every directory below it must be readable. The walk stops
// when the check's time is up (large trees); what was seen is reported.
func checkStage(ctx context.Context, r *runner) []Check {
	var out []Check
	for _, dir := range r.opts.Stage {
		out = append(out, checkStageDir(ctx, dir))
	}
	return out
}

func checkStageDir(ctx context.Context, dir string) Check {
	const id = "stage"
	name := "Stage " + dir
	info, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return broken(id, name, "mount the volume at this path in the training step's pod, or fix --stage", "%s does not exist", dir)
	case err != nil:
		return broken(id, name, "make the path readable by the step's user (securityContext runAsUser/fsGroup)", "%v", err)
	case !info.IsDir():
		return broken(id, name, "--stage takes directories; stage the directory that holds the file", "%s is not a directory", dir)
	}
	// A symlinked stage directory is staged where it points (pkg/tree
	// follows the root); check that directory, not the one link.
	shown := dir
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != filepath.Clean(dir) {
		dir, shown = real, dir+" -> "+real
	}
	var entries int
	stopped := false
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			stopped = true
			return filepath.SkipAll
		}
		entries++
		if d.Type().IsRegular() {
			// The snapshot reads every file; opening one is the cheap
			// proof that it can.
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return nil
	})
	if err != nil {
		return broken(id, name, "make every file and directory below it readable by the step's user (securityContext runAsUser/fsGroup)", "%v", err)
	}
	if stopped {
		return ok(id, name, "%s is a readable directory (%d entries checked before the time limit)", shown, entries)
	}
	return ok(id, name, "%s is a readable directory (%s)", shown, plural(entries-1, "entry", "entries"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
