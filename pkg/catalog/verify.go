package catalog

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/tree"
)

// Report is what Verify found for one restore point.
type Report struct {
	RestorePoint string       `json:"restorePoint"`
	Pipeline     string       `json:"pipeline"`
	Trees        []TreeReport `json:"trees,omitempty"`
	// KanisterActions is the number of recorded Kanister actions checked.
	KanisterActions int `json:"kanisterActions"`
	// Kanister lists what a Kanister restore would miss in the record.
	Kanister []string `json:"kanister,omitempty"`
}

// TreeReport is the check of one staged tree.
type TreeReport struct {
	Path   string         `json:"path"`
	Tree   string         `json:"tree"`
	Chunks int64          `json:"chunks"`
	Error  string         `json:"error,omitempty"` // the tree itself could not be read
	Broken []tree.Problem `json:"broken,omitempty"`
}

// OK reports whether the restore point can be restored as recorded.
func (r Report) OK() bool { return len(r.Problems()) == 0 }

// Problems lists everything broken, one line each.
func (r Report) Problems() []string {
	var out []string
	for _, t := range r.Trees {
		if t.Error != "" {
			out = append(out, fmt.Sprintf("%s: staged %s: %s", r.RestorePoint, t.Path, t.Error))
		}
		for _, p := range t.Broken {
			out = append(out, fmt.Sprintf("%s: staged %s: file %s: chunk %s %s", r.RestorePoint, t.Path, p.Path, p.Digest, p.Reason))
		}
	}
	for _, k := range r.Kanister {
		out = append(out, r.RestorePoint+": "+k)
	}
	return out
}

// Verify checks that rec could be restored: every chunk of every staged tree
// is in the store and matches its digest (each is downloaded and hashed), and
// every Kanister action carries what its restore action needs: a blueprint,
// an object and rendered, non-empty output artifacts. Problems go in the
// report; the error is for failing to check at all (store unreachable).
func Verify(ctx context.Context, st store.Store, rec *restorepoint.Record) (Report, error) {
	reps, err := VerifyAll(ctx, st, []*restorepoint.Record{rec})
	if err != nil {
		return Report{}, err
	}
	return reps[0], nil
}

// VerifyAll verifies many restore points as Verify does, reading every
// pack and chunk object once however many of them share it (restore
// points of one pipeline share most of their data).
func VerifyAll(ctx context.Context, st store.Store, recs []*restorepoint.Record) ([]Report, error) {
	v := tree.NewVerifier(st)
	added := map[string]error{}
	for _, rec := range recs {
		for _, t := range rec.Trees {
			if _, seen := added[t.Tree]; seen {
				continue
			}
			id, err := tree.ParseID(t.Tree)
			if err == nil {
				err = v.Add(ctx, id)
			}
			if err != nil && !isTreeProblem(err) && !errors.Is(err, tree.ErrInvalidID) {
				return nil, fmt.Errorf("verify %s %s: %w", rec.ID, t.Path, err)
			}
			added[t.Tree] = err
		}
	}
	if err := v.Run(ctx); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	reps := make([]Report, 0, len(recs))
	for _, rec := range recs {
		rep := Report{RestorePoint: rec.ID, Pipeline: rec.Pipeline, KanisterActions: len(rec.Kanister), Kanister: checkKanister(rec)}
		for _, t := range rec.Trees {
			tr := TreeReport{Path: t.Path, Tree: t.Tree}
			if err := added[t.Tree]; err != nil {
				tr.Error = err.Error()
			} else {
				id, _ := tree.ParseID(t.Tree)
				r, err := v.Report(ctx, id)
				switch {
				case err != nil && isTreeProblem(err):
					tr.Error = err.Error()
				case err != nil:
					return nil, fmt.Errorf("verify %s %s: %w", rec.ID, t.Path, err)
				default:
					tr.Chunks, tr.Broken = r.Chunks, r.Broken
				}
			}
			rep.Trees = append(rep.Trees, tr)
		}
		reps = append(reps, rep)
	}
	return reps, nil
}

// isTreeProblem tells a broken tree (missing or corrupt manifest) from a
// failure to read the store.
func isTreeProblem(err error) bool {
	for _, e := range []error{tree.ErrTreeNotFound, tree.ErrDigestMismatch, tree.ErrInvalidManifest, tree.ErrChunkMissing} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func checkKanister(rec *restorepoint.Record) []string {
	var out []string
	for i, a := range rec.Kanister {
		name := fmt.Sprintf("Kanister action %d (%s of %s)", i+1, a.Name, a.Object)
		if a.Blueprint == "" {
			out = append(out, name+": no blueprint recorded")
		}
		if a.Object.Name == "" || (a.Object.Kind == "" && a.Object.Resource == "") {
			out = append(out, name+": no target object recorded")
		}
		if len(a.Artifacts) == 0 {
			out = append(out, name+": no output artifacts recorded; a restore action reading .ArtifactsIn would fail")
		}
		keys := make([]string, 0, len(a.Artifacts))
		for k := range a.Artifacts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, checkArtifact(name, k, a.Artifacts[k].KeyValue, a.Artifacts[k].KopiaSnapshot)...)
		}
	}
	return out
}

func checkArtifact(action, name string, kv map[string]string, kopia string) []string {
	var out []string
	if len(kv) == 0 && kopia == "" {
		return []string{fmt.Sprintf("%s: artifact %s is empty", action, name)}
	}
	if strings.Contains(kopia, "{{") {
		out = append(out, fmt.Sprintf("%s: artifact %s kopiaSnapshot is an unrendered template %q", action, name, kopia))
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := kv[k]; {
		case v == "":
			out = append(out, fmt.Sprintf("%s: artifact %s key %s is empty", action, name, k))
		case strings.Contains(v, "{{"):
			out = append(out, fmt.Sprintf("%s: artifact %s key %s is an unrendered template %q", action, name, k, v))
		}
	}
	return out
}
