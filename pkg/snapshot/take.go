// Package snapshot takes and restores whole restore points: the Kanister
// actions and the staged trees of one pipeline, run side by side, recorded
// as one restore point only when every part succeeded.
package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// kanisterRunner is the part of *kanister.Client a snapshot uses.
type kanisterRunner interface {
	Run(ctx context.Context, req kanister.Request, onProgress func(kanister.Progress)) (*kanister.Result, error)
}

// Options describe one snapshot.
type Options struct {
	Pipeline string
	Workflow restorepoint.Workflow
	// Kanister runs Actions; it may be nil when there are none.
	Kanister          kanisterRunner
	KanisterNamespace string
	// Actions are the Kanister actions of the backup ActionSet, one per
	// target object.
	Actions []kanister.ActionSpec
	// Stage lists directories to push with the staging engine. The last
	// restore point of the pipeline gives each its parent tree.
	Stage []string
	// Rehash reads every staged file even when size and mtime match.
	Rehash bool
	// NewRun: this is the first attempt of the Argo node in this run of the
	// workflow, so an ActionSet under its name is an earlier run's and is
	// not adopted (see kanister.Request.NewRun).
	NewRun bool
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Take runs the Kanister backup and the staging pushes concurrently and, when
// all succeeded, writes the restore point's record. On any failure no record
// is written, so no restore point exists; the returned record is nil.
func Take(ctx context.Context, st store.Store, opts Options) (*restorepoint.Record, error) {
	if err := restorepoint.ValidatePipeline(opts.Pipeline); err != nil {
		return nil, err
	}
	if len(opts.Actions) == 0 && len(opts.Stage) == 0 {
		return nil, errors.New("nothing to snapshot: give Kanister targets (--object with --blueprint) and/or --stage paths")
	}
	if len(opts.Actions) > 0 && opts.Kanister == nil {
		return nil, errors.New("snapshot: Kanister actions given without a Kanister client")
	}
	log := logger(opts.Logger)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rec := &restorepoint.Record{
		Pipeline:          opts.Pipeline,
		Created:           now().UTC(),
		Workflow:          opts.Workflow,
		KanisterNamespace: opts.KanisterNamespace,
	}
	rec.ID = restorepoint.NewID(rec.Created)
	var parents map[string]tree.ID
	if len(opts.Stage) > 0 {
		var err error
		if parents, err = parentTrees(ctx, st, opts.Pipeline); err != nil {
			return nil, err
		}
	}

	var p parallel
	if len(opts.Actions) > 0 {
		p.Go(func() error {
			res, err := opts.Kanister.Run(ctx, kanisterRequest(opts.Pipeline, opts.Workflow, opts.NewRun, opts.Actions), nil)
			if err != nil {
				return fmt.Errorf("kanister %s: %w", opts.Actions[0].Name, err)
			}
			p.locked(func() { rec.Kanister = res.Recorded() })
			return nil
		})
	}
	trees := make([]restorepoint.StagedTree, len(opts.Stage))
	for i, dir := range opts.Stage {
		p.Go(func() error {
			t, err := push(ctx, st, dir, parents[filepath.Clean(dir)], opts, log)
			if err != nil {
				return fmt.Errorf("stage %s: %w", dir, err)
			}
			trees[i] = t
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return nil, fmt.Errorf("%w (no restore point was recorded)", err)
	}
	rec.Trees = trees
	if err := restorepoint.Save(ctx, st, rec); err != nil {
		return nil, err
	}
	log.Info("restore point recorded", "restorePoint", rec.ID,
		"kanisterActions", len(rec.Kanister), "trees", len(rec.Trees), "stagedBytes", rec.StagedBytes())
	return rec, nil
}

func push(ctx context.Context, st store.Store, dir string, parent tree.ID, opts Options, log *slog.Logger) (restorepoint.StagedTree, error) {
	res, err := tree.Push(ctx, st, dir, tree.PushOptions{
		Name:   treeName(opts.Pipeline, dir),
		Parent: parent,
		Rehash: opts.Rehash,
		Logger: log,
	})
	if err != nil {
		return restorepoint.StagedTree{}, err
	}
	return restorepoint.StagedTree{
		Path: filepath.Clean(dir), Tree: res.ID.String(),
		Files: res.Files, Bytes: res.Bytes, BytesUploaded: res.BytesUploaded,
	}, nil
}

// treeName keys the staging engine's "last tree under this name" index, so
// pushes of the same path in the same pipeline are incremental even without
// a restore point.
// Names allow only [A-Za-z0-9._-], so the path enters as a short digest.
func treeName(pipeline, dir string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	return pipeline + "_" + hex.EncodeToString(sum[:6])
}

// parentTrees returns, per staged path, the tree of the pipeline's latest
// restore point: the parent that makes the next push incremental.
func parentTrees(ctx context.Context, st store.Store, pipeline string) (map[string]tree.ID, error) {
	latest, err := restorepoint.Latest(ctx, st, pipeline)
	if errors.Is(err, restorepoint.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the parent snapshot: %w", err)
	}
	out := map[string]tree.ID{}
	for _, t := range latest.Trees {
		if id, err := tree.ParseID(t.Tree); err == nil {
			out[t.Path] = id
		}
	}
	return out, nil
}

// kanisterRequest builds the one ActionSet of a snapshot or restore. All its
// actions share one Blueprint action, which names the ActionSet.
func kanisterRequest(pipeline string, wf restorepoint.Workflow, newRun bool, actions []kanister.ActionSpec) kanister.Request {
	// Labels must be the same on every attempt of a retried step, so the
	// retry can adopt the ActionSet: nothing attempt-specific goes here.
	labels := map[string]string{kanister.LabelPipeline: pipeline}
	if wf.UID != "" {
		labels[kanister.LabelWorkflowUID] = wf.UID
	}
	action := actions[0].Name
	req := kanister.Request{Labels: labels, Actions: actions, NewRun: newRun}
	if wf.UID != "" && wf.NodeID != "" {
		req.Name = kanister.Name(wf.UID, wf.NodeID, action)
	} else {
		req.GenerateName = kanister.GenerateName(action)
	}
	return req
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return l
}
