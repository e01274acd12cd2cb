package preflight_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mlstate/mlstate/pkg/preflight"
)

func TestWorst(t *testing.T) {
	cases := []struct {
		name string
		list preflight.Checklist
		want preflight.Status
	}{
		{"empty", nil, preflight.OK},
		{"all ok", preflight.Checklist{{Status: preflight.OK}, {Status: preflight.OK}}, preflight.OK},
		{"warning", preflight.Checklist{{Status: preflight.OK}, {Status: preflight.Warning}}, preflight.Warning},
		{"broken wins", preflight.Checklist{{Status: preflight.Broken}, {Status: preflight.Warning}}, preflight.Broken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.list.Worst(); got != tc.want {
				t.Errorf("Worst() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChecklistJSON(t *testing.T) {
	b, err := json.Marshal(preflight.Checklist{{ID: "api", Name: "API server", Status: preflight.Broken, Detail: "d", Advice: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"id":"api","name":"API server","status":"broken","detail":"d","advice":"a"}]`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	if b, _ := json.Marshal(preflight.Checklist(nil)); string(b) != "[]" {
		t.Errorf("nil list: %s, want []", b)
	}
}

var sample = preflight.Checklist{
	{ID: "api", Name: "API server", Status: preflight.OK, Detail: "answers."},
	{ID: "permissions", Name: "Permissions", Status: preflight.Broken, Detail: "may not: x.", Advice: "grant:\n- rule a\n- rule b"},
}

func TestWriteLines(t *testing.T) {
	var b strings.Builder
	if err := preflight.WriteLines(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := "[ok] API server: answers.\n[broken] Permissions: may not: x. Do: grant:\n    - rule a\n    - rule b\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := preflight.WriteTable(&b, sample); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), b.String())
	}
	// Names are padded to one width, so details line up.
	if i, j := strings.Index(lines[0], "answers"), strings.Index(lines[1], "may not"); i != j {
		t.Errorf("details not aligned (%d, %d):\n%s", i, j, b.String())
	}
	if !strings.Contains(lines[2], "→ grant:") || !strings.HasSuffix(lines[3], "- rule a") {
		t.Errorf("advice not under its line:\n%s", b.String())
	}
	if lines[5] != "1 ok, 0 warning, 1 broken" {
		t.Errorf("summary %q", lines[5])
	}
}

func TestParseEndpoint(t *testing.T) {
	cases := []struct {
		in     string
		host   string
		secure bool
		bad    bool
	}{
		{"", "s3.amazonaws.com", true, false},
		{"http://minio.minio.svc:9000", "minio.minio.svc:9000", false, false},
		{"https://s3.eu-west-3.amazonaws.com/", "s3.eu-west-3.amazonaws.com", true, false},
		{"minio:9000", "minio:9000", true, false},
		{"ftp://x", "", false, true},
		{"http://host/bucket", "", false, true},
	}
	for _, tc := range cases {
		host, secure, err := preflight.ParseEndpoint(tc.in)
		if (err != nil) != tc.bad || host != tc.host || secure != tc.secure {
			t.Errorf("parseEndpoint(%q) = %q, %v, %v", tc.in, host, secure, err)
		}
	}
}

func TestRoleRules(t *testing.T) {
	got := preflight.RoleRules("get", "", "secrets", "kanister", "s3-creds")
	want := "# Role rules in namespace kanister:\n- apiGroups: [\"\"]\n  resources: [\"secrets\"]\n  resourceNames: [\"s3-creds\"]\n  verbs: [\"get\"]"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
