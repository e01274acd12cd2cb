// Package catalog looks after the restore points in a store: lists them,
// verifies that each could still be restored, compares two, and prunes old
// ones (their Kanister backup data first, then the record, then the chunks
// no remaining tree needs).
package catalog

import (
	"context"
	"fmt"
	"slices"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
)

// Records loads every restore point of pipeline, newest first.
func Records(ctx context.Context, st store.Store, pipeline string) ([]*restorepoint.Record, error) {
	ids, err := restorepoint.List(ctx, st, pipeline)
	if err != nil {
		return nil, err
	}
	out := make([]*restorepoint.Record, 0, len(ids))
	for _, id := range slices.Backward(ids) {
		rec, err := restorepoint.Get(ctx, st, pipeline, id, false)
		if err != nil {
			return nil, fmt.Errorf("catalog of %s: %w", pipeline, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// Summary is one line of a listing.
type Summary struct {
	ID          string   `json:"id"`
	Pipeline    string   `json:"pipeline"`
	Created     string   `json:"created"`
	Workflow    string   `json:"workflow,omitempty"`
	Kanister    []string `json:"kanister,omitempty"` // "action blueprint object" per action
	Trees       int      `json:"trees"`
	Files       int64    `json:"files"`
	StagedBytes int64    `json:"stagedBytes"`
}

// Summarize makes the listing line of a record.
func Summarize(rec *restorepoint.Record) Summary {
	s := Summary{
		ID: rec.ID, Pipeline: rec.Pipeline, Created: rec.Created.UTC().Format("2006-01-02T15:04:05Z"),
		Workflow: rec.Workflow.Name, Trees: len(rec.Trees), StagedBytes: rec.StagedBytes(),
	}
	for _, a := range rec.Kanister {
		s.Kanister = append(s.Kanister, fmt.Sprintf("%s %s %s", a.Name, a.Blueprint, a.Object))
	}
	for _, t := range rec.Trees {
		s.Files += t.Files
	}
	return s
}
