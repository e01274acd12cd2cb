package workflowtemplates

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/tree"
)

// stage-push never pushes an unnamed tree: catalog-prune's sweep keeps only
// the last push under each name (and what restore points use), so an
// unnamed tree would be deleted and a later stage-pull would fail.
func TestStagePushNamesItsTree(t *testing.T) {
	cases := []struct {
		args       map[string]string
		want       string // exact name, or prefix when wantPrefix
		wantPrefix bool
	}{
		{map[string]string{"pvc": "datasets"}, "pvc.datasets", false},
		{map[string]string{"pvc": "datasets", "path": "imagenet/train"}, "pvc.datasets.", true},
		{map[string]string{"pvc": "datasets", "name": "imagenet-v3"}, "imagenet-v3", false},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		tc.args["store"] = "s3://b"
		r := render(t, "stage-push", renderCtx{args: tc.args})
		parseStep(t, r, func(c *cli.Context) {
			name := c.String("name")
			if name == "" {
				t.Fatalf("stage-push %v pushes an unnamed tree, which the retention sweep deletes", tc.args)
			}
			if err := tree.CheckName(name); err != nil {
				t.Errorf("stage-push %v: default name %q is not a valid push name: %v", tc.args, name, err)
			}
			if (tc.wantPrefix && !strings.HasPrefix(name, tc.want)) || (!tc.wantPrefix && name != tc.want) {
				t.Errorf("stage-push %v: name %q, want %q", tc.args, name, tc.want)
			}
			if seen[name] {
				t.Errorf("stage-push %v: name %q collides with another directory's", tc.args, name)
			}
			seen[name] = true
		})
	}
}
