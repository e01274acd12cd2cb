package workflowtemplates

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	submitCmd  = regexp.MustCompile(`argo submit[^\n]*`)
	entrypoint = regexp.MustCompile(`--entrypoint[ =]([a-z-]+)`)
	paramArg   = regexp.MustCompile(`-p ([a-z-]+)=`)
)

// The commands in examples/manual pass parameters to templates; each must
// be an input of that template, and every required input must be given.
func TestManualCommands(t *testing.T) {
	path := filepath.Join(repoRoot(t), "examples", "manual", "README.md")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]map[string]bool{} // template -> input -> required
	for _, d := range loadDocs(t) {
		if d.path != templateFile {
			continue
		}
		for _, tm := range asList(d.obj["spec"].(map[string]any)["templates"]) {
			m := tm.(map[string]any)
			in := map[string]bool{}
			params, _ := m["inputs"].(map[string]any)
			for _, p := range asList(params["parameters"]) {
				pm := p.(map[string]any)
				_, hasDefault := pm["default"]
				_, fromConfigMap := pm["valueFrom"] // the mlstate ConfigMap
				in[pm["name"].(string)] = !hasDefault && !fromConfigMap
			}
			inputs[m["name"].(string)] = in
		}
	}
	n := 0
	joined := strings.ReplaceAll(string(text), "\\\n", " ") // join continued lines
	for _, cmd := range submitCmd.FindAllString(joined, -1) {
		ep := entrypoint.FindStringSubmatch(cmd)
		if ep == nil {
			continue
		}
		n++
		in, ok := inputs[ep[1]]
		if !ok {
			t.Errorf("examples/manual/README.md: --entrypoint %s is not a template of %s", ep[1], templateFile)
			continue
		}
		given := map[string]bool{}
		for _, p := range paramArg.FindAllStringSubmatch(cmd, -1) {
			given[p[1]] = true
			if _, ok := in[p[1]]; !ok {
				t.Errorf("examples/manual/README.md: template %s has no input %q", ep[1], p[1])
			}
		}
		for name, required := range in {
			if required && !given[name] {
				t.Errorf("examples/manual/README.md: %s needs -p %s=...: %s", ep[1], name, cmd)
			}
		}
	}
	if n == 0 {
		t.Error("examples/manual/README.md has no argo submit --entrypoint command")
	}
}
