package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// RestoreOptions describe one restore of a recorded restore point.
type RestoreOptions struct {
	// Kanister runs the restore actions; nil is allowed when the record has
	// no Kanister actions or SkipKanister is set.
	Kanister kanisterRunner
	// Action is the Blueprint action to run with each recorded backup's
	// artifacts. Default "restore".
	Action string
	// Workflow names the restoring run, for the ActionSet name and labels.
	Workflow restorepoint.Workflow
	// To overrides where a staged path is restored: recorded path → new path.
	To map[string]string
	// NewRun: the first attempt of the Argo node in this run (see
	// Options.NewRun); a restore after `argo retry` must run again.
	NewRun bool
	// SkipKanister and SkipStage restore only one side.
	SkipKanister, SkipStage bool
	Logger                  *slog.Logger
}

// RestoreResult says what a restore brought back.
type RestoreResult struct {
	ActionSet       string
	Paths           []string
	Files           int64
	BytesDownloaded int64
}

// Restore runs the Kanister restore actions built from the record (so it
// works after the backup ActionSet is gone) and pulls every staged tree back
// to its path, concurrently. Each pull replaces its directory only after
// every chunk was verified, so a failed restore leaves directories as they
// were.
func Restore(ctx context.Context, st store.Store, rec *restorepoint.Record, opts RestoreOptions) (*RestoreResult, error) {
	action := opts.Action
	if action == "" {
		action = "restore"
	}
	for from := range opts.To {
		if _, ok := rec.TreeFor(filepath.Clean(from)); !ok {
			return nil, exitcode.With(exitcode.Usage, fmt.Errorf("--to %s: restore point %s staged no such path (it has %s)", from, rec.ID, stagedPaths(rec)))
		}
	}
	runKanister := len(rec.Kanister) > 0 && !opts.SkipKanister
	if runKanister && opts.Kanister == nil {
		return nil, fmt.Errorf("restore point %s has Kanister actions but no cluster connection was set up", rec.ID)
	}
	log := logger(opts.Logger)
	res := &RestoreResult{}
	var p parallel
	if runKanister {
		actions := make([]kanister.ActionSpec, len(rec.Kanister))
		for i, ra := range rec.Kanister {
			actions[i] = kanister.RestoreAction(ra, action)
		}
		p.Go(func() error {
			out, err := opts.Kanister.Run(ctx, kanisterRequest(rec.Pipeline, opts.Workflow, opts.NewRun, actions), nil)
			if err != nil {
				return fmt.Errorf("kanister %s: %w", action, err)
			}
			p.locked(func() { res.ActionSet = out.Namespace + "/" + out.Name })
			return nil
		})
	}
	if !opts.SkipStage {
		for _, t := range rec.Trees {
			dest := t.Path
			if to, ok := opts.To[t.Path]; ok {
				dest = to
			}
			p.Go(func() error {
				n, err := pull(ctx, st, t, dest, log)
				if err != nil {
					return fmt.Errorf("restore %s into %s: %w", t.Path, dest, err)
				}
				p.locked(func() {
					res.Paths = append(res.Paths, dest)
					res.Files += n.Files
					res.BytesDownloaded += n.BytesDownloaded
				})
				return nil
			})
		}
	}
	return res, p.Wait()
}

func pull(ctx context.Context, st store.Store, t restorepoint.StagedTree, dest string, log *slog.Logger) (tree.PullResult, error) {
	id, err := tree.ParseID(t.Tree)
	if err != nil {
		return tree.PullResult{}, fmt.Errorf("recorded tree %q: %w", t.Tree, err)
	}
	// Delete: a restore makes the directory exactly what was snapshotted,
	// including removing files training wrote after it.
	return tree.Pull(ctx, st, id, dest, tree.PullOptions{Delete: true, Logger: log})
}

func stagedPaths(rec *restorepoint.Record) string {
	if len(rec.Trees) == 0 {
		return "no staged paths"
	}
	paths := make([]string, len(rec.Trees))
	for i, t := range rec.Trees {
		paths[i] = t.Path
	}
	return strings.Join(paths, ", ")
}
