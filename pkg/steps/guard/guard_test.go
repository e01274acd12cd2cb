package guard_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// vandal changes, adds and deletes files in the workspace $1, then exits $2.
const vandal = `ws=$1
echo corrupted > "$ws/config.yaml"
rm -rf "$ws/ckpt"
mkdir -p "$ws/ckpt" && head -c 1000 /dev/zero > "$ws/ckpt/epoch-2.partial"
rm -rf "$ws/data"
echo stray > "$ws/new-file"
exit $2`

func TestGuardSuccessRestoresNothing(t *testing.T) {
	ws := testsupport.Workspace(t)
	outDir := t.TempDir()
	r := runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", outDir,
		"--", "sh", "-c", `echo trained; echo epoch2 > "$1/ckpt/epoch-2.bin"`, "sh", ws)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if !strings.HasPrefix(r.stdout, "trained\n") {
		t.Errorf("the command's output was not streamed: %q", r.stdout)
	}
	if r.values["restored"] != false || r.values["exit-code"] != float64(0) || r.values["restore-point"] == "" {
		t.Errorf("result %v, want restored false, exit-code 0, a restore point", r.values)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "ckpt/epoch-2.bin")); err != nil || string(b) != "epoch2\n" {
		t.Errorf("the command's work was undone after a success: %q, %v", b, err)
	}
	if got := readOutput(t, outDir, "restored"); got != "false" {
		t.Errorf("outputs/restored = %q", got)
	}
	if got := readOutput(t, outDir, "restore-point"); got != r.values["restore-point"] {
		t.Errorf("outputs/restore-point = %q, want %v", got, r.values["restore-point"])
	}
}

func TestGuardFailureRestoresWorkspace(t *testing.T) {
	backends := map[string]func(t *testing.T) string{
		"file": fileStore,
		"minio": func(t *testing.T) string {
			s := testsupport.MinIO(t)
			s.SetEnv(t)
			return s.StoreURL(t, "guard")
		},
	}
	for name, storeURL := range backends {
		t.Run(name, func(t *testing.T) {
			ws := testsupport.Workspace(t)
			before := testsupport.Fingerprint(t, ws)
			outDir := t.TempDir()
			r := runGuard(t, "--store", storeURL(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", outDir,
				"--", "sh", "-c", vandal, "sh", ws, "7")
			if r.code != 7 {
				t.Fatalf("exit %d, want the command's 7", r.code)
			}
			testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
			if r.values["restored"] != true || r.values["exit-code"] != float64(7) {
				t.Errorf("result %v, want restored true, exit-code 7", r.values)
			}
			if got := readOutput(t, outDir, "restored") + " " + readOutput(t, outDir, "exit-code"); got != "true 7" {
				t.Errorf("outputs restored, exit-code = %q, want \"true 7\"", got)
			}
			if !strings.Contains(r.stderr, "exited with status 7; restored restore point rp-") {
				t.Errorf("stderr does not say what happened:\n%s", r.stderr)
			}
		})
	}
}

func TestGuardRestoreOnPolicy(t *testing.T) {
	cases := []struct {
		policy   string
		exit     string
		restored bool
	}{
		{"!7", "7", false},
		{"!7", "8", true},
		{"never", "1", false},
		{"1-6", "7", false},
		{"SIGTERM,7", "7", true},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.policy, ",", "+")+"/"+tc.exit, func(t *testing.T) {
			ws := testsupport.Workspace(t)
			before := testsupport.Fingerprint(t, ws)
			r := runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", t.TempDir(),
				"--restore-on", tc.policy, "--", "sh", "-c", vandal, "sh", ws, tc.exit)
			if want := tc.exit; r.values["exit-code"] != mustFloat(want) || r.code != int(mustFloat(want)) {
				t.Fatalf("exit %d (result %v), want %s", r.code, r.values, want)
			}
			if r.values["restored"] != tc.restored {
				t.Fatalf("restored = %v, want %v", r.values["restored"], tc.restored)
			}
			if tc.restored {
				testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
			} else if _, err := os.Stat(filepath.Join(ws, "new-file")); err != nil {
				t.Fatalf("workspace was restored against the policy: %v", err)
			}
		})
	}
}

func mustFloat(s string) float64 {
	var f float64
	for _, c := range s {
		f = f*10 + float64(c-'0')
	}
	return f
}

func TestGuardBadInput(t *testing.T) {
	ws := testsupport.Workspace(t)
	notExec := filepath.Join(t.TempDir(), "train.py")
	if err := os.WriteFile(notExec, []byte("print(1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--pipeline", "train", "--stage", ws, "--outputs-dir", t.TempDir()}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no separator", []string{"sh", "-c", "true"}, exitcode.Usage, `no "--" before the command "sh"`},
		{"no separator, no command", nil, exitcode.Usage, `no "--" before the command`},
		{"no command", []string{"--"}, exitcode.Usage, `no command after "--"`},
		{"argument before the separator", []string{"sh", "--", "true"}, exitcode.Usage, `unexpected argument "sh" before "--"`},
		{"bad policy", []string{"--restore-on", "0", "--", "true"}, exitcode.Usage, "status 0 is success"},
		{"command not found", []string{"--", "mlstate-no-such-trainer", "--epochs", "3"}, 127, "mlstate-no-such-trainer: executable file not found in $PATH; nothing was snapshotted"},
		{"command not executable", []string{"--", notExec}, 127, "permission denied; nothing was snapshotted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := fileStore(t)
			r := runGuard(t, append(append([]string{"--store", store}, base...), tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.msg)
			}
			st, err := storeurl.Open(context.Background(), store, storeurl.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ids, err := restorepoint.List(context.Background(), st, "train"); err != nil || len(ids) != 0 {
				t.Fatalf("a snapshot was taken for bad input: %v %v", ids, err)
			}
		})
	}
	t.Run("nothing to snapshot", func(t *testing.T) {
		r := runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--", "true")
		if r.code != exitcode.Usage || !strings.Contains(r.stderr, "nothing to snapshot") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestGuardRestoreFailureExits70(t *testing.T) {
	ws := testsupport.Workspace(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The command destroys the staged chunks as well as the workspace, so
	// the restore cannot succeed.
	r := runGuard(t, "--store", "file://"+storeDir, "--pipeline", "train", "--stage", ws, "--outputs-dir", t.TempDir(),
		"--", "sh", "-c", `rm -rf "$3/chunks" "$3/packs"; `+vandal, "sh", ws, "5", storeDir)
	if r.code != exitcode.RestoreAfterFailure {
		t.Fatalf("exit %d, want %d", r.code, exitcode.RestoreAfterFailure)
	}
	rp, _ := r.values["restore-point"].(string)
	want := "restore --store file://" + storeDir + " --pipeline train --restore-point " + rp
	if rp == "" || !strings.Contains(r.stderr, "exited with status 5, and restoring restore point "+rp+" failed") || !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr does not name the restore point and the manual restore %q:\n%s", want, r.stderr)
	}
	if r.values["restored"] != false || r.values["exit-code"] != float64(5) {
		t.Errorf("result %v, want restored false and the command's exit-code 5", r.values)
	}
	if _, err := os.Stat(filepath.Join(ws, "new-file")); err != nil {
		t.Errorf("a failed restore changed the workspace: %v", err)
	}
}

// TestGuardSIGTERM runs guard as a process (the test binary re-executed as
// guard), sends it SIGTERM while the command runs, as Argo does when it stops
// a pod, and checks that the command got the signal, died of it (143, which
// the default policy counts as a failure), and that guard restored the
// workspace and exited 143.
func TestGuardSIGTERM(t *testing.T) {
	ws := testsupport.Workspace(t)
	before := testsupport.Fingerprint(t, ws)
	ready := filepath.Join(t.TempDir(), "ready")
	outDir := t.TempDir()
	script := `ws=$1
echo corrupted > "$ws/config.yaml"
echo stray > "$ws/new-file"
touch "$2"
sleep 60
echo "sleep was not interrupted" >&2
exit 0`
	cmd := exec.Command(os.Args[0], "--store", fileStore(t), "--pipeline", "train", "--stage", ws, "--outputs-dir", outDir,
		"--", "sh", "-c", script, "sh", ws, ready)
	cmd.Env = append(os.Environ(), execEnv+"=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("guard ended before the command was ready: %v\n%s", err, stderr.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("the command never started:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("guard did not end after SIGTERM:\n%s", stderr.String())
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("exit %d, want 143 (the command killed by SIGTERM)", code)
	}
	if strings.Contains(stderr.String(), "sleep was not interrupted") {
		t.Fatal("the signal did not reach the command's children")
	}
	if !strings.Contains(stderr.String(), "was killed by SIGTERM (status 143); restored restore point") {
		t.Errorf("stderr does not say what happened")
	}
	testsupport.SameFingerprint(t, before, testsupport.Fingerprint(t, ws))
	if got := readOutput(t, outDir, "restored") + " " + readOutput(t, outDir, "exit-code"); got != "true 143" {
		t.Errorf("outputs restored, exit-code = %q, want \"true 143\"", got)
	}
}

func TestGuardInstall(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "shared", "guard")
	r := runGuard(t, "install", dst)
	if r.code != 0 || r.values["installed"] != dst {
		t.Fatalf("exit %d, result %v", r.code, r.values)
	}
	self, _ := os.Executable()
	a, _ := os.Stat(self)
	b, err := os.Stat(dst)
	if err != nil || b.Size() != a.Size() || b.Mode().Perm() != 0o755 {
		t.Fatalf("installed copy %v (%v), want %d bytes, mode 0755", b, err, a.Size())
	}
	if r := runGuard(t, "install"); r.code != exitcode.Usage {
		t.Fatalf("install without PATH: exit %d, want %d", r.code, exitcode.Usage)
	}
}

func TestGuardHelp(t *testing.T) {
	r := runGuard(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "-- COMMAND [ARGS...]") || !strings.Contains(r.stdout, "--restore-on value") {
		t.Fatalf("--help: exit %d\n%s", r.code, r.stdout)
	}
	// After "--", --help belongs to the command.
	r = runGuard(t, "--store", fileStore(t), "--pipeline", "train", "--stage", testsupport.Workspace(t), "--outputs-dir", t.TempDir(), "--", "sh", "-c", "echo $1", "sh", "--help")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "--help\n") {
		t.Fatalf("the command's --help was taken by guard: exit %d\n%s", r.code, r.stdout)
	}
}
