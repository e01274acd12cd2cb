package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/testsupport"
	"github.com/mlstate/mlstate/pkg/tree"
)

// damage flips the bytes of one stored chunk, wherever it is.
func damage(t *testing.T, st store.Store, loc tree.Location) {
	t.Helper()
	ctx := context.Background()
	rc, err := st.Get(ctx, loc.Key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for i := loc.Off; i < loc.Off+loc.Len; i++ {
		data[i] ^= 0xff
	}
	if err := st.Put(ctx, loc.Key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsCorruptAndMissingChunks(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := newBackend(t)
			dir := filepath.Join(t.TempDir(), "data")
			testsupport.WriteFiles(t, dir, map[string]string{
				"good.txt": "fine", "corrupt.bin": random(5000, 2), "gone/missing.bin": random(3<<20, 3),
			})
			rec := take(t, b.st, "train", dir)
			args := []string{"verify", "--store", b.url, "--pipeline", "train", "--outputs-dir", t.TempDir()}
			if r := runCatalog(t, append(args, "--all")...); r.code != 0 || !strings.HasPrefix(r.stdout, "ok ") {
				t.Fatalf("healthy restore point: exit %d, %q", r.code, r.stdout)
			}

			id, _ := tree.ParseID(rec.Trees[0].Tree)
			m, err := tree.Load(ctx, b.st, id)
			if err != nil {
				t.Fatal(err)
			}
			digest := map[string]tree.ID{}
			for _, e := range m.Entries {
				if len(e.Chunks) > 0 {
					digest[e.Path] = e.Chunks[0].Digest
				}
			}
			// corrupt.bin is packed: flip its bytes inside its pack.
			// missing.bin is large enough to be a single object: delete it.
			loc, err := tree.Locate(ctx, b.st, id, digest["corrupt.bin"])
			if err != nil {
				t.Fatal(err)
			}
			damage(t, b.st, loc)
			loc, err = tree.Locate(ctx, b.st, id, digest["gone/missing.bin"])
			if err != nil || loc.Off != 0 || !strings.HasPrefix(loc.Key, "chunks/") {
				t.Fatalf("missing.bin's first chunk is at %+v, %v; want a single object", loc, err)
			}
			if err := b.st.Delete(ctx, loc.Key); err != nil {
				t.Fatal(err)
			}

			r := runCatalog(t, append(args, rec.ID)...)
			if r.code != exitcode.Integrity {
				t.Fatalf("exit %d, want %d", r.code, exitcode.Integrity)
			}
			for _, want := range []string{
				"BROKEN   " + rec.ID,
				"file corrupt.bin: chunk " + digest["corrupt.bin"].String() + " digest mismatch",
				"file gone/missing.bin: chunk " + digest["gone/missing.bin"].String() + " missing",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q", want)
				}
			}
			if strings.Contains(r.stdout, "good.txt") || !strings.Contains(r.stderr, "2 problem(s)") {
				t.Errorf("wrong problems reported")
			}

			r = runCatalog(t, append(args, "--all", "-o", "json")...)
			var out struct {
				OK       bool     `json:"ok"`
				Problems []string `json:"problems"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatal(err)
			}
			if out.OK || len(out.Problems) != 2 || r.code != exitcode.Integrity {
				t.Fatalf("json verify: %+v, exit %d", out, r.code)
			}
		})
	}
}

func TestVerifyKanisterArtifacts(t *testing.T) {
	b := fileBackend(t)
	ctx := context.Background()
	obj := kanister.ObjectRef{Kind: "pvc", Namespace: "ml", Name: "ckpt"}
	good := &restorepoint.Record{Pipeline: "train", Created: time.Now().Add(-time.Minute), Kanister: []kanister.RecordedAction{{
		Name: "backup", Blueprint: "bp", Object: obj,
		Artifacts: map[string]kanister.Artifact{"snap": {KeyValue: map[string]string{"backupID": "b-1"}}},
	}}}
	broken := &restorepoint.Record{Pipeline: "train", Created: time.Now(), Kanister: []kanister.RecordedAction{
		{Name: "backup", Blueprint: "bp", Object: obj, Artifacts: map[string]kanister.Artifact{
			"snap":  {KeyValue: map[string]string{"backupID": "{{ .Phases.copy.Output.backupID }}", "tag": ""}},
			"kopia": {KopiaSnapshot: "{{ .Phases.snap.Output.id }}"},
			"none":  {},
		}},
		{Name: "backup", Object: kanister.ObjectRef{Kind: "statefulset", Namespace: "ml", Name: "db"}},
	}}
	for _, rec := range []*restorepoint.Record{good, broken} {
		if err := restorepoint.Save(ctx, b.st, rec); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"verify", "--store", b.url, "--pipeline", "train", "--outputs-dir", t.TempDir()}
	if r := runCatalog(t, append(args, good.ID)...); r.code != 0 {
		t.Fatalf("good record: exit %d", r.code)
	}
	r := runCatalog(t, append(args, "--all")...)
	if r.code != exitcode.Integrity {
		t.Fatalf("exit %d, want %d", r.code, exitcode.Integrity)
	}
	for _, want := range []string{
		"artifact snap key backupID is an unrendered template",
		"artifact snap key tag is empty",
		"artifact kopia kopiaSnapshot is an unrendered template",
		"artifact none is empty",
		"Kanister action 2 (backup of statefulset/ml/db): no blueprint recorded",
		"Kanister action 2 (backup of statefulset/ml/db): no output artifacts recorded",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, good.ID+": ") {
		t.Errorf("the good record was reported broken")
	}
}

func TestVerifyUsage(t *testing.T) {
	b := fileBackend(t)
	for _, args := range [][]string{
		{"verify", "--store", b.url, "--pipeline", "train"},
		{"verify", "--store", b.url, "--pipeline", "train", "--all", "rp-20200101-000000.000-abcdef"},
		{"verify", "--store", b.url, "--pipeline", "train", "not-an-id"},
		{"verify", "--store", b.url, "--all"},
		{"list", "--store", b.url, "--pipeline", "train", "-o", "xml"},
	} {
		if r := runCatalog(t, args...); r.code != exitcode.Usage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitcode.Usage)
		}
	}
}
