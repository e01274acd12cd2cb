package workflowtemplates

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkImages returns one error per mlstate image that does not name a
// step the repository builds (images/ builds one image per steps/<name>).
func checkImages(root string, ivs []invocation) []error {
	var errs []error
	for _, iv := range ivs {
		if !strings.HasPrefix(iv.image, imagePrefix) {
			if iv.step != "" && !strings.Contains(iv.image, "{{") {
				errs = append(errs, fmt.Errorf("%s runs step %s from image %q; use %s%s", iv, iv.step, iv.image, imagePrefix, iv.step))
			}
			continue
		}
		step := imageStep(iv.image)
		if _, err := os.Stat(filepath.Join(root, "steps", step, "main.go")); err != nil {
			errs = append(errs, fmt.Errorf("%s uses image %s, but there is no steps/%s/main.go, so images/ builds no such image", iv, iv.image, step))
		}
		if iv.step != step {
			errs = append(errs, fmt.Errorf("%s runs /usr/local/bin/%s from image %s", iv, iv.step, iv.image))
		}
	}
	return errs
}

func TestImagesAreBuilt(t *testing.T) {
	for _, err := range checkImages(repoRoot(t), invocations(loadDocs(t))) {
		t.Error(err)
	}
}

// Every steps/<name> must have its CLI registered, so that no template can
// pass it an unchecked flag.
func TestEveryStepRegistered(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(repoRoot(t), "steps"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := stepApps[e.Name()]; e.IsDir() && !ok {
			t.Errorf("steps/%s has no entry in stepApps (workflowtemplates/steps_test.go)", e.Name())
		}
	}
}
