package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// kanisterRunner is the part of *kanister.Client that prune uses.
type kanisterRunner interface {
	Run(ctx context.Context, req kanister.Request, onProgress func(kanister.Progress)) (*kanister.Result, error)
}

// namespaceMover is a kanisterRunner that can work in another namespace.
type namespaceMover interface {
	InNamespace(ns string) *kanister.Client
}

// PruneOptions describe one prune.
type PruneOptions struct {
	// Pipelines to apply the retention to, each on its own.
	Pipelines []string
	Retention Retention
	// Force allows a retention that keeps nothing or removes everything.
	Force bool
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Kanister runs the Blueprint's delete action for restore points with
	// Kanister actions; nil when none has any.
	Kanister kanisterRunner
	// KanisterNamespace, when set, picks the Kanister namespace for a
	// restore point from the one its record holds (which is where its
	// Blueprint was), for a Kanister runner that can change namespace.
	KanisterNamespace func(recorded string) string
	// DeleteAction is the Blueprint action that deletes a backup's data.
	// Default "delete".
	DeleteAction string
	// Grace keeps trees and chunks stored less than this long ago, on top of
	// what running pushes hold (see tree.Sweep). It also covers a snapshot
	// between the push of its tree and the write of its record.
	Grace time.Duration
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
	// Now is the clock for the retention and the sweep. Default time.Now.
	Now func() time.Time
}

// PruneResult says what a prune did (or, dry, would do).
type PruneResult struct {
	Removed []string `json:"removed"` // "pipeline/id"
	Kept    []string `json:"kept"`
	// Failed are restore points whose Kanister delete failed; their records
	// are kept so the delete can be retried.
	Failed []Failure         `json:"failed,omitempty"`
	Sweep  *tree.SweepResult `json:"sweep,omitempty"`
}

// Failure is a restore point that could not be removed.
type Failure struct {
	RestorePoint string `json:"restorePoint"`
	Error        string `json:"error"`
}

// ErrKanisterDelete: some restore points were kept because their Kanister
// delete failed.
var ErrKanisterDelete = exitcode.With(exitcode.Kanister, errors.New("the Blueprint's delete action failed"))

// Prune removes the restore points the retention does not keep. For each, in
// this order: the Blueprint's delete action runs with the record's artifacts
// (so Kanister's backup data goes too), then the record is deleted; a failed
// delete action keeps the record. Then tree.Sweep deletes the trees and
// chunks no remaining restore point of ANY pipeline needs (the store is
// shared), nor the last push under any name (stage push), nor anything a
// push in progress may use. Every pipeline's selection is checked before
// anything is deleted.
func Prune(ctx context.Context, st store.Store, opts PruneOptions) (PruneResult, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res PruneResult
	type doomed = struct{ pipeline, id string }
	var remove []doomed
	for _, p := range opts.Pipelines {
		ids, err := restorepoint.List(ctx, st, p)
		if err != nil {
			return res, err
		}
		keep, rm, err := Select(ids, opts.Retention, now(), opts.Force)
		if err != nil {
			return res, fmt.Errorf("pipeline %s: %w", p, err)
		}
		for _, id := range keep {
			res.Kept = append(res.Kept, p+"/"+id)
		}
		for _, id := range rm {
			remove = append(remove, doomed{p, id})
		}
	}
	for _, d := range remove {
		name := d.pipeline + "/" + d.id
		if opts.DryRun {
			res.Removed = append(res.Removed, name)
			continue
		}
		if err := removeOne(ctx, st, d.pipeline, d.id, opts, log); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			log.Warn("restore point kept: its Kanister delete failed", "restorePoint", name, "error", err)
			res.Failed = append(res.Failed, Failure{RestorePoint: name, Error: err.Error()})
			res.Kept = append(res.Kept, name)
			continue
		}
		log.Info("restore point removed", "restorePoint", name)
		res.Removed = append(res.Removed, name)
	}
	sw, err := sweep(ctx, st, remove, opts, now, log)
	res.Sweep = sw
	if err != nil {
		return res, err
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%w for %d restore point(s), kept so a later prune retries: %s (see the Blueprint's delete action and the ActionSet's events)",
			ErrKanisterDelete, len(res.Failed), failedNames(res.Failed))
	}
	return res, nil
}

func removeOne(ctx context.Context, st store.Store, pipeline, id string, opts PruneOptions, log *slog.Logger) error {
	rec, err := restorepoint.Get(ctx, st, pipeline, id, false)
	if err != nil {
		return err
	}
	if len(rec.Kanister) > 0 {
		if opts.Kanister == nil {
			return fmt.Errorf("restore point %s has Kanister actions but no cluster connection was set up", id)
		}
		action := opts.DeleteAction
		if action == "" {
			action = "delete"
		}
		req := kanister.Request{
			GenerateName: kanister.GenerateName(action),
			Labels:       map[string]string{kanister.LabelPipeline: pipeline},
		}
		for _, ra := range rec.Kanister {
			req.Actions = append(req.Actions, kanister.RestoreAction(ra, action))
		}
		runner := opts.Kanister
		if mover, ok := runner.(namespaceMover); ok && opts.KanisterNamespace != nil {
			runner = mover.InNamespace(opts.KanisterNamespace(rec.KanisterNamespace))
		}
		log.Info("running the Blueprint's delete action", "restorePoint", id, "action", action)
		if _, err := runner.Run(ctx, req, nil); err != nil {
			return fmt.Errorf("kanister %s for %s: %w", action, id, err)
		}
	}
	return restorepoint.Delete(ctx, st, pipeline, id)
}

func failedNames(fs []Failure) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += ", "
		}
		s += f.RestorePoint
	}
	return s
}
