package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/tree"
)

// storeScratchPrefix starts the store's scratch key, at the top of the
// store's prefix: store keys may not start with a dot (filestore), and a
// key in a directory of its own would leave that directory behind in a
// file:// store.
const storeScratchPrefix = "mlstate-preflight-"

// checkStore yields the store line (open, write, read back, delete) and the
// restore-point line (the pipeline's latest record decodes and every staged
// tree in it verifies chunk by chunk).
func checkStore(ctx context.Context, r *runner) []Check {
	const id, name = "store", "Store"
	skipRP := warn("restore-point", "Latest restore point", "fix the Store line first", "not checked: store not usable")
	if strings.TrimSpace(r.opts.StoreURL) == "" {
		return []Check{broken(id, name, "pass --store (or MLSTATE_STORE)", "%v", storeurl.ErrNoStore), skipRP}
	}
	st, err := storeurl.Open(ctx, r.opts.StoreURL, r.opts.StoreOptions)
	if err != nil {
		return []Check{broken(id, name, storeAdvice(err), "open store: %v", err), skipRP}
	}
	key := storeScratchPrefix + randomName()
	if err := scratchStore(ctx, st, key); err != nil {
		return []Check{broken(id, name, storeAdvice(err), "%s: %v", st, err), skipRP}
	}
	return []Check{ok(id, name, "%s: write, read and delete of %s work", st, key), checkRestorePoint(ctx, r, st)}
}

func storeAdvice(err error) string {
	switch {
	case errors.Is(err, store.ErrPermission):
		return "give the store credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or MLSTATE_S3_CREDENTIALS_FILE) read, write and delete rights on the bucket"
	case errors.Is(err, store.ErrNotFound):
		return "create the bucket (or directory) named by --store"
	case errors.Is(err, storeurl.ErrInvalid):
		return "fix --store: s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT or file:///ABSOLUTE/PATH"
	}
	return "check --store, the endpoint's reachability from this pod, and the store credentials"
}

func scratchStore(ctx context.Context, st store.Store, key string) (err error) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := st.Delete(cctx, key); derr != nil && err == nil {
			err = fmt.Errorf("delete scratch object %s: %w (remove it by hand)", key, derr)
		}
	}()
	body := []byte("mlstate preflight scratch object; safe to delete\n")
	if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("write scratch object %s: %w", key, err)
	}
	if testHookScratchWritten != nil {
		testHookScratchWritten()
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read scratch object %s: %w", key, err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil {
		return fmt.Errorf("read scratch object %s: %w", key, err)
	}
	if !bytes.Equal(got.Bytes(), body) {
		return fmt.Errorf("scratch object %s read back different bytes", key)
	}
	return nil
}

func checkRestorePoint(ctx context.Context, r *runner, st store.Store) Check {
	const id, name = "restore-point", "Latest restore point"
	p := r.opts.Pipeline
	if p == "" {
		return warn(id, name, "pass --pipeline to have its latest restore point verified", "not checked: no --pipeline")
	}
	rec, err := restorepoint.Latest(ctx, st, p)
	switch {
	case errors.Is(err, restorepoint.ErrNotFound) || errors.Is(err, store.ErrNotFound):
		return ok(id, name, "pipeline %s has no restore point yet (the first snapshot will make one)", p)
	case errors.Is(err, restorepoint.ErrCorrupt):
		return broken(id, name, "take a new snapshot before training; the latest restore point cannot be used", "pipeline %s: %v", p, err)
	case err != nil:
		return broken(id, name, storeAdvice(err), "pipeline %s: latest restore point: %v", p, err)
	}
	var files, chunks int64
	for _, t := range rec.Trees {
		tid, err := tree.ParseID(t.Tree)
		if err == nil {
			var rep tree.Report
			rep, err = tree.Verify(ctx, st, tid)
			files, chunks = files+rep.Files, chunks+rep.Chunks
			if err == nil {
				err = rep.Err()
			}
		}
		switch {
		case err == nil:
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return warn(id, name, "raise --check-timeout to verify it completely",
				"restore point %s: verification of %s did not finish in time (%d files, %d chunks checked so far)", rec.ID, t.Path, files, chunks)
		default:
			return broken(id, name, "take a new snapshot before training; restoring this restore point would fail",
				"restore point %s, staged %s: %v", rec.ID, t.Path, err)
		}
	}
	return ok(id, name, "restore point %s of pipeline %s verifies (%d trees, %d files, %d chunks; %d Kanister actions recorded)",
		rec.ID, p, len(rec.Trees), files, chunks, len(rec.Kanister))
}
