package restorepoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/store"
)

// Errors callers branch on.
// Each carries its exit code (see pkg/exitcode).
var (
	ErrNotFound      = exitcode.With(exitcode.Precondition, errors.New("restore point not found"))
	ErrCorrupt       = exitcode.With(exitcode.Integrity, errors.New("restore point record is corrupt"))
	ErrOtherPipeline = exitcode.With(exitcode.Conflict, errors.New("restore point belongs to another pipeline"))
	ErrExists        = exitcode.With(exitcode.Conflict, errors.New("restore point already exists"))
)

const prefix = "restorepoints/"

func key(pipeline, id string) string { return prefix + pipeline + "/" + id + ".json" }

// Save writes rec as a new, immutable restore point. It fills ID (from
// Created) when empty; it never replaces an existing record.
func Save(ctx context.Context, st store.Store, rec *Record) error {
	if err := ValidatePipeline(rec.Pipeline); err != nil {
		return err
	}
	if rec.ID == "" {
		rec.ID = NewID(rec.Created)
	}
	if err := ValidateID(rec.ID); err != nil {
		return err
	}
	rec.Schema = SchemaVersion
	data, err := rec.encode()
	if err != nil {
		return err
	}
	err = st.PutIfAbsent(ctx, key(rec.Pipeline, rec.ID), bytes.NewReader(data), int64(len(data)))
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("save restore point %s: %w", rec.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("save restore point %s to %s: %w", rec.ID, st, err)
	}
	return nil
}

// Get loads restore point id of pipeline. When it is not there but another
// pipeline has it, the error matches ErrOtherPipeline and names that
// pipeline; with allowOther the record is returned instead.
func Get(ctx context.Context, st store.Store, pipeline, id string, allowOther bool) (*Record, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	rec, err := load(ctx, st, key(pipeline, id))
	if !errors.Is(err, ErrNotFound) {
		return rec, err
	}
	other, ferr := findPipeline(ctx, st, id)
	if ferr != nil {
		return nil, ferr
	}
	if other == "" {
		return nil, fmt.Errorf("restore point %s of pipeline %s in %s: %w (list them with `catalog list --pipeline %s`)", id, pipeline, st, ErrNotFound, pipeline)
	}
	if !allowOther {
		return nil, fmt.Errorf("restore point %s: %w %q, not %q (pass --allow-other-pipeline to restore it anyway)", id, ErrOtherPipeline, other, pipeline)
	}
	return load(ctx, st, key(other, id))
}

// Latest returns the newest restore point of pipeline.
func Latest(ctx context.Context, st store.Store, pipeline string) (*Record, error) {
	ids, err := List(ctx, st, pipeline)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("pipeline %s has no restore point in %s: %w (take one with the snapshot step first)", pipeline, st, ErrNotFound)
	}
	return load(ctx, st, key(pipeline, ids[len(ids)-1]))
}

// List returns the IDs of pipeline's restore points, oldest first.
func List(ctx context.Context, st store.Store, pipeline string) ([]string, error) {
	if err := ValidatePipeline(pipeline); err != nil {
		return nil, err
	}
	var ids []string
	err := st.List(ctx, prefix+pipeline+"/", func(info store.Info) error {
		id, ok := strings.CutSuffix(path.Base(info.Key), ".json")
		if ok && ValidateID(id) == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list restore points of %s in %s: %w", pipeline, st, err)
	}
	return ids, nil
}

// Pipelines returns every pipeline that has restore points.
func Pipelines(ctx context.Context, st store.Store) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := st.List(ctx, prefix, func(info store.Info) error {
		rest := strings.TrimPrefix(info.Key, prefix)
		if p, _, ok := strings.Cut(rest, "/"); ok && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pipelines in %s: %w", st, err)
	}
	return out, nil
}

// Delete removes a restore point's record (the data it points at is
// removed separately, by the Kanister delete action and the chunk sweep).
func Delete(ctx context.Context, st store.Store, pipeline, id string) error {
	if err := st.Delete(ctx, key(pipeline, id)); err != nil {
		return fmt.Errorf("delete restore point %s: %w", id, err)
	}
	return nil
}

func load(ctx context.Context, st store.Store, k string) (*Record, error) {
	rc, err := st.Get(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", k, st, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", k, st, err)
	}
	rec, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("restore point %s: %w", k, err)
	}
	return rec, nil
}

// findPipeline finds which pipeline holds id; only used on the error path,
// so its full listing does not slow the common case.
func findPipeline(ctx context.Context, st store.Store, id string) (string, error) {
	var found string
	errStop := errors.New("stop")
	err := st.List(ctx, prefix, func(info store.Info) error {
		if path.Base(info.Key) == id+".json" {
			found = strings.SplitN(strings.TrimPrefix(info.Key, prefix), "/", 2)[0]
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", fmt.Errorf("look up restore point %s in %s: %w", id, st, err)
	}
	return found, nil
}
