package preflight_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/preflight/preflighttest"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// run runs preflight and logs the checklist, so a failing test shows it.
func run(t *testing.T, opts preflight.Options) preflight.Checklist {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	list := preflight.Run(ctx, opts)
	var b strings.Builder
	_ = preflight.WriteLines(&b, list)
	t.Logf("checklist:\n%s", b.String())
	return list
}

// expect asserts the line of the check with this ID (and name, when
// several lines share the ID): its status, and that its detail and advice
// contain the given texts.
func expect(t *testing.T, list preflight.Checklist, id string, want preflight.Status, detail, advice string) preflight.Check {
	t.Helper()
	c, ok := list.Find(id)
	if !ok {
		t.Fatalf("no %s line", id)
	}
	if c.Status != want {
		t.Errorf("%s: status %s, want %s (%s)", c.Name, c.Status, want, c.Detail)
	}
	if !strings.Contains(c.Detail, detail) {
		t.Errorf("%s: detail %q does not contain %q", c.Name, c.Detail, detail)
	}
	if !strings.Contains(c.Advice, advice) {
		t.Errorf("%s: advice %q does not contain %q", c.Name, c.Advice, advice)
	}
	return c
}

// others asserts that every line but the named IDs is ok.
func others(t *testing.T, list preflight.Checklist, except ...string) {
	t.Helper()
	skip := map[string]bool{}
	for _, id := range except {
		skip[id] = true
	}
	for _, c := range list {
		if !skip[c.ID] && c.Status != preflight.OK {
			t.Errorf("%s: %s (%s), want ok", c.Name, c.Status, c.Detail)
		}
	}
}

// testMinIO is the package's MinIO server, set by setup.
var testMinIO *testsupport.MinIOServer

func setup(t *testing.T) (*preflighttest.Env, preflight.Options) {
	e := preflighttest.Setup(t)
	testMinIO = e.MinIO
	return e, e.Options()
}

func replaceAll(s string, oldnew ...string) string {
	return strings.NewReplacer(oldnew...).Replace(s)
}
