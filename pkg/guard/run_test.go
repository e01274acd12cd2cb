package guard

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		killedBy string
		stdout   string
	}{
		{name: "success", args: []string{"sh", "-c", "echo out"}, stdout: "out\n"},
		{name: "exit status kept", args: []string{"sh", "-c", "exit 42"}, code: 42},
		{name: "stdin passed", args: []string{"sh", "-c", "read x; echo got $x"}, stdin: "line\n", stdout: "got line\n"},
		{name: "killed by a signal", args: []string{"sh", "-c", "kill -TERM $$"}, code: 143, killedBy: "SIGTERM"},
		{name: "killed by SIGKILL", args: []string{"sh", "-c", "kill -KILL $$"}, code: 137, killedBy: "SIGKILL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			res, err := Run(Command{Args: tc.args, Stdin: strings.NewReader(tc.stdin), Stdout: &out, Stderr: &errb})
			if err != nil {
				t.Fatal(err)
			}
			if res.Code != tc.code || res.KilledBy != tc.killedBy {
				t.Fatalf("result %+v, want code %d killed by %q (stderr %q)", res, tc.code, tc.killedBy, errb.String())
			}
			if out.String() != tc.stdout {
				t.Fatalf("stdout %q, want %q", out.String(), tc.stdout)
			}
		})
	}
}

func TestRunCannotStart(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{nil, {"mlstate-no-such-command"}, {notExec}, {"/nonexistent/bin/x"}} {
		if _, err := Resolve(args); !errors.Is(err, ErrCannotStart) {
			t.Errorf("Resolve(%q) = %v, want ErrCannotStart", args, err)
		}
		if _, err := Run(Command{Args: args}); !errors.Is(err, ErrCannotStart) {
			t.Errorf("Run(%q) = %v, want ErrCannotStart", args, err)
		}
	}
}

func TestInstall(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "shared", "guard")
	for range 2 { // a second install replaces the first
		if err := copyExecutable(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 || fi.Size() != 6 {
		t.Fatalf("installed %v, %d bytes; want 0755, 6 bytes", fi.Mode(), fi.Size())
	}
}
