package outputs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestEmit(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	var stdout bytes.Buffer
	w := Writer{Dir: dir, Stdout: &stdout}
	v := Values{"tree": "abc", "files": 3, "bytes": int64(42), "restored": true, "names": []string{"a", "b"}}
	if err := w.Emit(v); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tree": "abc", "files": "3", "bytes": "42", "restored": "true", "names": `["a","b"]`}
	for name, text := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != text {
			t.Errorf("file %s = %q, want %q", name, got, text)
		}
	}
	var line map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &line); err != nil {
		t.Fatalf("stdout is not one JSON line: %q: %v", stdout.String(), err)
	}
	if line["tree"] != "abc" || line["files"] != float64(3) {
		t.Errorf("JSON line = %v", line)
	}
	if bytes.Count(stdout.Bytes(), []byte("\n")) != 1 {
		t.Errorf("want exactly one line on stdout, got %q", stdout.String())
	}
}

func TestFilesReplace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := Writer{Dir: dir}
	if err := w.Files(Values{"restore-point": ""}); err != nil {
		t.Fatal(err)
	}
	if err := w.Files(Values{"restore-point": "rp-1"}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "restore-point"))
	if string(got) != "rp-1" {
		t.Fatalf("restore-point = %q, want rp-1", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("want no temp files left, got %d entries", len(entries))
	}
}
