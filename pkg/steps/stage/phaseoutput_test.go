package stage

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// phaseOutputs reads stdout the way Kanister reads a pod's log: every line
// holding "###Phase-output###:" carries one JSON key/value after it.
func phaseOutputs(t *testing.T, stdout string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		_, kv, ok := strings.Cut(line, "###Phase-output###:")
		if !ok {
			continue
		}
		var o struct{ Key, Value string }
		if err := json.Unmarshal([]byte(strings.TrimSpace(kv)), &o); err != nil {
			t.Fatalf("phase output line %q: %v", line, err)
		}
		out[o.Key] = o.Value
	}
	return out
}

func TestPushPhaseOutputAndForget(t *testing.T) {
	store := "file://" + t.TempDir()
	src := t.TempDir()
	writeFile(t, src, "ckpt/epoch-1", "weights")

	r := run(t, "push", "--store", store, "--name", "pvc.ml.checkpoints", src)
	if r.code != 0 || strings.Contains(r.stdout, "###Phase-output###") {
		t.Fatalf("push without --phase-output: exit %d, stdout %q", r.code, r.stdout)
	}
	writeFile(t, src, "ckpt/epoch-2", "more weights")
	r = run(t, "push", "--store", store, "--name", "pvc.ml.checkpoints", "--phase-output", src)
	if r.code != 0 {
		t.Fatalf("push --phase-output: exit %d: %s", r.code, r.stderr)
	}
	got := phaseOutputs(t, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("the result JSON line is not last on stdout: %q", r.stdout)
	}
	if got["tree"] == "" || got["tree"] != res["tree"] || got["files"] != "2" || got["bytes"] != "19" || got["bytes_uploaded"] != "12" {
		t.Errorf("phase outputs %v, want tree %v, files 2, bytes 19, bytes_uploaded 12", got, res["tree"])
	}

	r = run(t, "forget", "--store", store, "--name", "pvc.ml.checkpoints", "--tree", got["tree"])
	if r.code != 0 || !strings.Contains(r.stdout, `"forgotten":1`) {
		t.Fatalf("forget: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	// The name now points at the first push again: pulling it gives epoch-1 only.
	r = run(t, "ls", "--store", store, "name:pvc.ml.checkpoints")
	if r.code != 0 || !strings.Contains(r.stdout, "ckpt/epoch-1") || strings.Contains(r.stdout, "epoch-2") {
		t.Errorf("after forget the name lists %q (exit %d), want the first tree", r.stdout, r.code)
	}
	for _, bad := range [][]string{
		{"forget", "--store", store, "--name", "pvc.ml.checkpoints"},
		{"forget", "--store", store, "--tree", got["tree"]},
		{"forget", "--store", store, "--name", "pvc", "--tree", "nothex"},
		{"forget", "--store", store, "--name", "pvc", "--tree", got["tree"], "extra"},
	} {
		if r := run(t, bad...); r.code != exitcode.Usage || r.stderr == "" {
			t.Errorf("stage %s: exit %d, stderr %q; want the usage exit code with a message", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
}

func TestWritePhaseOutputsRejectsKeysKanisterRefuses(t *testing.T) {
	var b strings.Builder
	if err := writePhaseOutputs(&b, map[string]string{"bytes-uploaded": "1"}); err == nil {
		t.Errorf("a key with a dash was printed (%q); Kanister's ValidateKey refuses it", b.String())
	}
}
