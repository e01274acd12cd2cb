package stage

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// childEnv makes the test binary act as the stage command, so a test can
// run (and kill) a real `stage` process.
const childEnv = "MLSTATE_STAGE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		stepcli.Main(App())
	}
	testsupport.Main(m)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	app := App()
	app.Writer = &out
	code := stepcli.Run(context.Background(), app, append([]string{"stage"}, args...), &errb)
	return result{code, out.String(), errb.String()}
}

func writeFile(t *testing.T, root, rel, data string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readOutput(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("output %s: %v", name, err)
	}
	return string(b)
}

func TestPushPullCommands(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	storeURL := s.StoreURL(t, "team-a")
	for name, store := range map[string]string{"minio": storeURL, "file": "file://" + t.TempDir()} {
		t.Run(name, func(t *testing.T) {
			src, outs := t.TempDir(), t.TempDir()
			writeFile(t, src, "a/b.txt", "hello")
			writeFile(t, src, "c", strings.Repeat("x", 1000))
			r := run(t, "push", "--store", store, "--name", "ds", "--outputs-dir", outs, src)
			if r.code != 0 {
				t.Fatalf("push exit %d: %s", r.code, r.stderr)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("stdout is not one JSON line: %q", r.stdout)
			}
			id := readOutput(t, outs, "tree")
			if res["tree"] != id || readOutput(t, outs, "files") != "2" || readOutput(t, outs, "bytes") != "1005" || readOutput(t, outs, "bytes-uploaded") != "1005" {
				t.Errorf("outputs: %v", res)
			}
			t.Setenv("MLSTATE_STORE", store) // the env var works like the flag
			dst := filepath.Join(t.TempDir(), "dst")
			r = run(t, "pull", "--tree", "name:ds", "--outputs-dir", outs, dst)
			if r.code != 0 {
				t.Fatalf("pull exit %d: %s", r.code, r.stderr)
			}
			if b, _ := os.ReadFile(filepath.Join(dst, "a/b.txt")); string(b) != "hello" || readOutput(t, outs, "bytes-downloaded") != "1005" {
				t.Errorf("pull did not restore: %q", b)
			}
			writeFile(t, src, "c", "changed")
			if r = run(t, "push", "--name", "ds", "--outputs-dir", outs, src); r.code != 0 || readOutput(t, outs, "bytes-uploaded") != "7" {
				t.Errorf("incremental push: %d %s %s", r.code, r.stdout, r.stderr)
			}
			second := readOutput(t, outs, "tree")
			if r = run(t, "diff", id, second); r.code != 0 || r.stdout != "M c\n" {
				t.Errorf("diff: %d %q %s", r.code, r.stdout, r.stderr)
			}
			if r = run(t, "ls", second); r.code != 0 || !strings.Contains(r.stdout, " a/b.txt\n") {
				t.Errorf("ls: %d %q %s", r.code, r.stdout, r.stderr)
			}
			if r = run(t, "verify", second); r.code != 0 || !strings.Contains(r.stdout, `"ok":true`) {
				t.Errorf("verify: %d %q %s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	s := testsupport.MinIO(t)
	s.SetEnv(t)
	storeURL := s.StoreURL(t, "")
	fileStore := "file://" + t.TempDir()
	src, outs := t.TempDir(), t.TempDir()
	writeFile(t, src, "f", "content")
	r := run(t, "push", "--store", fileStore, "--outputs-dir", outs, src)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	id := readOutput(t, outs, "tree")
	sum := "ed7002b439e9ac845f22357d822bac1444730fbdb6016d3ec9432297b9ec9f73" // sha256("content")
	// Corrupt the only chunk: the one pack holds nothing else.
	packs, err := filepath.Glob(filepath.Join(strings.TrimPrefix(fileStore, "file://"), "packs", "*", "*"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packs %v, %v; want one", packs, err)
	}
	if err := os.WriteFile(packs[0], []byte("CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		mention string
	}{
		{"no args", nil, []string{"push", "--store", fileStore}, exitcode.Usage, "DIR"},
		{"no store", nil, []string{"push", src}, exitcode.Usage, "MLSTATE_STORE"},
		{"bad store", nil, []string{"push", "--store", "ftp://x", src}, exitcode.Usage, "s3:// or file://"},
		{"missing source", nil, []string{"push", "--store", fileStore, missing}, exitcode.Usage, missing},
		{"unknown flag", nil, []string{"push", "--bogus", src}, exitcode.Usage, "bogus"},
		{"pull without tree", nil, []string{"pull", "--store", fileStore, t.TempDir()}, exitcode.Usage, "tree"},
		{"bad tree id", nil, []string{"pull", "--store", fileStore, "--tree", "xyz", t.TempDir()}, exitcode.Usage, "xyz"},
		{"tree not found", nil, []string{"pull", "--store", fileStore, "--tree", strings.Repeat("0", 64), t.TempDir()}, exitcode.Precondition, "tree not found"},
		{"name not found", nil, []string{"ls", "--store", fileStore, "name:nope"}, exitcode.Precondition, "nope"},
		{"corrupt chunk pull", nil, []string{"pull", "--store", fileStore, "--tree", id, t.TempDir()}, exitcode.Integrity, sum},
		{"corrupt chunk verify", nil, []string{"verify", "--store", fileStore, id}, exitcode.Integrity, sum},
		{"missing bucket", nil, []string{"push", "--store", "s3://nobucket?endpoint=" + s.URL, src}, exitcode.Precondition, "--create-bucket"},
		{"wrong credentials", map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong"}, []string{"push", "--store", storeURL, src}, exitcode.Permission, s.Endpoint},
		{"unreachable", nil, []string{"push", "--store", "s3://bucket?endpoint=http://" + closed, src}, exitcode.Transient, closed},
		{"create bucket", nil, []string{"push", "--store", "s3://made?endpoint=" + s.URL, "--create-bucket", "--outputs-dir", outs, src}, 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := run(t, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.mention) {
				t.Errorf("exit %d, want %d; stderr %q should mention %q", r.code, c.code, r.stderr, c.mention)
			}
			if c.code != 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 && !strings.Contains(r.stderr, `"level"`) {
				t.Errorf("error is more than one line: %q", r.stderr)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, s.SecretKey) {
				t.Errorf("stderr has a stack trace or a secret: %q", r.stderr)
			}
		})
	}
}

func TestFlagsHaveEnvVars(t *testing.T) {
	app := App()
	if !strings.Contains(app.Description, "EXIT STATUS") {
		t.Error("help text lacks the exit codes")
	}
	for _, cmd := range app.Commands {
		for _, f := range cmd.Flags {
			ev, ok := f.(interface{ GetEnvVars() []string })
			if !ok || len(ev.GetEnvVars()) == 0 || !strings.HasPrefix(ev.GetEnvVars()[0], "MLSTATE_") {
				t.Errorf("%s --%s has no MLSTATE_ variable", cmd.Name, f.Names()[0])
			}
		}
	}
	var _ cli.Flag
}
