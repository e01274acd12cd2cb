package restorepoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/filestore"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := filestore.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func record(pipeline string, at time.Time) *Record {
	return &Record{
		Pipeline: pipeline,
		Created:  at,
		Workflow: Workflow{Name: "train-x", UID: "uid-1"},
		Kanister: []kanister.RecordedAction{{
			Name: "backup", Blueprint: "pvc-bp", ActionSet: "mlstate-backup-1",
			Object:    kanister.ObjectRef{Kind: "pvc", Namespace: "ml", Name: "ckpt"},
			Artifacts: map[string]kanister.Artifact{"snap": {KeyValue: map[string]string{"backupID": "b1"}}},
		}},
		Trees: []StagedTree{{Path: "/data", Tree: strings.Repeat("a", 64), Files: 2, Bytes: 10}},
	}
}

func TestSaveGetLatest(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	base := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 3 {
		r := record("train", base.Add(time.Duration(i)*time.Minute))
		if err := Save(ctx, st, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if err := Save(ctx, st, record("other", base)); err != nil {
		t.Fatal(err)
	}
	got, err := List(ctx, st, "train")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Fatalf("List = %v, want %v (oldest first)", got, ids)
	}
	latest, err := Latest(ctx, st, "train")
	if err != nil {
		t.Fatal(err)
	}
	if latest.ID != ids[2] {
		t.Fatalf("Latest = %s, want %s", latest.ID, ids[2])
	}
	r, err := Get(ctx, st, "train", ids[0], false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kanister[0].Artifacts["snap"].KeyValue["backupID"] != "b1" || r.Trees[0].Path != "/data" || !r.Created.Equal(base) {
		t.Fatalf("record did not round-trip: %+v", r)
	}
	pipelines, err := Pipelines(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pipelines, ",") != "other,train" {
		t.Fatalf("Pipelines = %v", pipelines)
	}
}

func TestRecordsAreImmutable(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	r := record("train", time.Now())
	if err := Save(ctx, st, r); err != nil {
		t.Fatal(err)
	}
	again := record("train", time.Now())
	again.ID = r.ID
	err := Save(ctx, st, again)
	if !errors.Is(err, ErrExists) || exitcode.Of(err) != exitcode.Conflict {
		t.Fatalf("second Save with the same ID: got %v, want ErrExists (conflict)", err)
	}
}

func TestGetErrors(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	r := record("alpha", time.Now())
	if err := Save(ctx, st, r); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		pipeline   string
		id         string
		allowOther bool
		want       error
		code       int
		contains   string
	}{
		{"other pipeline", "beta", r.ID, false, ErrOtherPipeline, exitcode.Conflict, `"alpha"`},
		{"missing", "alpha", NewID(time.Now().Add(time.Hour)), false, ErrNotFound, exitcode.Precondition, "catalog list"},
		{"malformed", "alpha", "../../etc/passwd", false, nil, exitcode.Failure, "malformed"},
		{"allowed other", "beta", r.ID, true, nil, exitcode.OK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Get(ctx, st, tc.pipeline, tc.id, tc.allowOther)
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := exitcode.Of(err); got != tc.code {
				t.Fatalf("exit code = %d, want %d (err %v)", got, tc.code, err)
			}
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("message %q does not mention %q", err, tc.contains)
			}
		})
	}
	if _, err := Latest(ctx, st, "beta"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest of an empty pipeline: %v, want ErrNotFound", err)
	}
}

func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	r := record("train", time.Now())
	if err := Save(ctx, st, r); err != nil {
		t.Fatal(err)
	}
	k := key("train", r.ID)
	rc, err := st.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	tampered := bytes.Replace(data, []byte(`"backupID": "b1"`), []byte(`"backupID": "b2"`), 1)
	if bytes.Equal(tampered, data) {
		t.Fatal("test did not change the record")
	}
	if err := st.Put(ctx, k, bytes.NewReader(tampered), int64(len(tampered))); err != nil {
		t.Fatal(err)
	}
	_, err = Get(ctx, st, "train", r.ID, false)
	if !errors.Is(err, ErrCorrupt) || exitcode.Of(err) != exitcode.Integrity {
		t.Fatalf("tampered record: got %v, want ErrCorrupt (integrity)", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := NewID(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC))
	if !strings.HasPrefix(good, "rp-20260102-030405.006-") {
		t.Fatalf("NewID = %s", good)
	}
	if at, err := IDTime(good); err != nil || !at.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)) {
		t.Fatalf("IDTime(%s) = %v, %v", good, at, err)
	}
	for _, bad := range []string{"", "rp-1", "RP-20260102-030405.006-abcdef", good + "x", "rp-20260102-030405.006-ABCDEF"} {
		if ValidateID(bad) == nil {
			t.Errorf("ValidateID(%q) accepted", bad)
		}
	}
	for _, p := range []string{"train", "team-a.llm_v2", "a"} {
		if err := ValidatePipeline(p); err != nil {
			t.Errorf("ValidatePipeline(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "Train", "a/b", "-a", "a-", strings.Repeat("a", 64), ".."} {
		if ValidatePipeline(p) == nil {
			t.Errorf("ValidatePipeline(%q) accepted", p)
		}
	}
}
