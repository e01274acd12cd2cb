package workflowtemplates

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// pyStepCall finds a Python list that starts a step binary, e.g.
	// subprocess.run(["/usr/local/bin/restore", "--store", store, ...]).
	pyStepCall = regexp.MustCompile(`\[\s*"/usr/local/bin/([a-z]+)"([^\]]*)\]`)
	pyString   = regexp.MustCompile(`"([^"]*)"`)
)

// pythonInvocations finds step invocations in the examples' Python files
// (KFP pipelines that run a step binary from a Python component).
func pythonInvocations(t testing.TB) []invocation {
	t.Helper()
	root := repoRoot(t)
	var out []invocation
	err := filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".py") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, m := range pyStepCall.FindAllStringSubmatch(string(src), -1) {
			iv := invocation{path: rel, where: "call of " + m[1], step: m[1], image: imagePrefix + m[1]}
			for _, s := range pyString.FindAllStringSubmatch(m[2], -1) {
				iv.args = append(iv.args, s[1])
			}
			out = append(out, iv)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPythonStepFlagsExist(t *testing.T) {
	ivs := pythonInvocations(t)
	if len(ivs) == 0 {
		t.Fatal("found no step call in examples/**/*.py")
	}
	for _, err := range checkStepFlags(ivs) {
		t.Error(err)
	}
	broken := ivs[0]
	broken.args = append(append([]string(nil), broken.args...), "--no-such-flag")
	if errs := checkStepFlags([]invocation{broken}); len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), broken.path+":") {
		t.Errorf("an unknown flag in %s was not reported with the file name: %v", broken.path, errs)
	}
}
