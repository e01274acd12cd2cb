package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfileCoversSteps checks that images/Dockerfile has a final stage
// for every step (ENTRYPOINT cannot take the STEP argument, so each step needs
// its own two lines) and stamps the version the way the builder does.
func TestDockerfileCoversSteps(t *testing.T) {
	steps, err := Discover(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "images", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	stage := regexp.MustCompile(`(?m)^FROM runtime AS ([a-z0-9._-]+)\n(ENTRYPOINT .*)?`)
	var stages []string
	for _, m := range stage.FindAllStringSubmatch(df, -1) {
		if m[1] == "unset" {
			continue
		}
		stages = append(stages, m[1])
		if want := `ENTRYPOINT ["/usr/local/bin/` + m[1] + `"]`; m[2] != want {
			t.Errorf("Dockerfile stage %s: entrypoint line %q, want %q", m[1], m[2], want)
		}
	}
	for _, s := range steps {
		if !slices.Contains(stages, s) {
			t.Errorf("images/Dockerfile has no stage for step %s; add before the last FROM:\n\nFROM runtime AS %s\nENTRYPOINT [\"/usr/local/bin/%s\"]", s, s, s)
		}
	}
	for _, s := range stages {
		if !slices.Contains(steps, s) {
			t.Errorf("images/Dockerfile has a stage for %s, which is not a step under steps/", s)
		}
	}
	if !strings.Contains(df, "-X "+versionVar+"=v$(cat VERSION)") {
		t.Errorf("images/Dockerfile does not stamp %s from VERSION", versionVar)
	}
}
