package preflight_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/tree"
)

func TestStoreBroken(t *testing.T) {
	cases := []struct {
		name           string
		url            func(e string) string
		getenv         func(string) string
		detail, advice string
	}{
		{"no store", func(string) string { return "" }, nil, "no store configured", "pass --store"},
		{"unreachable", func(string) string { return "s3://bucket?endpoint=http://127.0.0.1:1" }, nil, "open store", "reachability from this pod"},
		{"bucket missing", func(ep string) string { return "s3://no-such-bucket?endpoint=" + ep }, nil, "no-such-bucket", "create the bucket"},
		{"wrong credentials", nil, func(k string) string {
			if k == "AWS_SECRET_ACCESS_KEY" {
				return "wrong"
			}
			return testMinIOEnv(k)
		}, "", "read, write and delete rights"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, opts := setup(t)
			if tc.url != nil {
				opts.StoreURL = tc.url(e.MinIO.URL)
			}
			if tc.getenv != nil {
				opts.StoreOptions.Getenv = tc.getenv
			}
			opts.Timeout = 10 * time.Second
			list := run(t, opts)
			expect(t, list, "store", preflight.Broken, tc.detail, tc.advice)
			expect(t, list, "restore-point", preflight.Warning, "not checked: store not usable", "")
			others(t, list, "store", "restore-point")
		})
	}
}

func testMinIOEnv(k string) string { return testMinIO.Env()[k] }

func TestRestorePoint(t *testing.T) {
	e, opts := setup(t)
	ctx := context.Background()
	st, err := storeurl.Open(ctx, e.StoreURL, storeurl.Options{Getenv: e.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), []byte(strings.Repeat("w", 4096)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := tree.Push(ctx, st, dir, tree.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &restorepoint.Record{Pipeline: opts.Pipeline, Created: time.Now().UTC(),
		Trees: []restorepoint.StagedTree{{Path: dir, Tree: res.ID.String(), Files: res.Files, Bytes: res.Bytes}}}
	if err := restorepoint.Save(ctx, st, rec); err != nil {
		t.Fatal(err)
	}
	expect(t, run(t, opts), "restore-point", preflight.OK, "restore point "+rec.ID+" of pipeline train verifies (1 trees, 1 files", "")

	var chunks []string
	if err := st.List(ctx, "packs/", func(i store.Info) error { chunks = append(chunks, i.Key); return nil }); err != nil || len(chunks) == 0 {
		t.Fatalf("chunks: %v %v", chunks, err)
	}
	if err := st.Delete(ctx, chunks[0]); err != nil {
		t.Fatal(err)
	}
	list := run(t, opts)
	expect(t, list, "restore-point", preflight.Broken, "restore point "+rec.ID+", staged "+dir+": tree", "take a new snapshot before training")
	expect(t, list, "restore-point", preflight.Broken, "missing", "")
	others(t, list, "restore-point")
}

func TestStageBroken(t *testing.T) {
	e, opts := setup(t)
	file := filepath.Join(e.Stage, "config.yaml")
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.MkdirAll(filepath.Join(locked, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(locked, "inner"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(locked, "inner"), 0o755) })
	opts.Stage = []string{"/no/such/dir", file, locked, e.Stage}
	list := run(t, opts)
	var lines preflight.Checklist
	for _, c := range list {
		if c.ID == "stage" {
			lines = append(lines, c)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d stage lines, want 4", len(lines))
	}
	expect(t, lines[0:1], "stage", preflight.Broken, "/no/such/dir does not exist", "mount the volume at this path")
	expect(t, lines[1:2], "stage", preflight.Broken, file+" is not a directory", "--stage takes directories")
	if os.Geteuid() == 0 {
		t.Log("running as root: an unreadable directory cannot be made")
	} else {
		expect(t, lines[2:3], "stage", preflight.Broken, "permission denied", "make every file and directory below it readable")
	}
	expect(t, lines[3:4], "stage", preflight.OK, "readable directory", "")
	others(t, list, "stage")
}

// TestScratchRemovedWhenInterrupted cancels the run right after each
// scratch object was written: both are still removed.
func TestScratchRemovedWhenInterrupted(t *testing.T) {
	e, opts := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	preflight.SetScratchHook(cancel)
	defer preflight.SetScratchHook(nil)
	list := preflight.Run(ctx, opts)
	if ctx.Err() == nil {
		t.Fatal("the run was not interrupted")
	}
	if list.Worst() != preflight.Broken {
		t.Errorf("interrupted run: worst %s, want broken", list.Worst())
	}
	assertNothingLeft(t, e.MinIO.Client, e.Bucket, e.StoreURL, e.Getenv)
}
