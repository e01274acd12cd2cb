package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDiscover(t *testing.T) {
	const okMain = "package main\n\nfunc main() {}\n"
	cases := []struct {
		name    string
		files   map[string]string // path under steps/ -> content
		want    []string
		wantErr string // substring; "" means success
	}{
		{name: "steps sorted", files: map[string]string{
			"snapshot/main.go": okMain, "restore/main.go": okMain, "README.md": "not a step",
			"_wip/main.go": "package wip", ".hidden/x.go": "package x", "testdata/x.go": "package x",
		}, want: []string{"restore", "snapshot"}},
		{name: "main in another file", files: map[string]string{
			"stage/flags.go": "package main\n", "stage/run.go": okMain, "stage/run_test.go": "package main_test\n",
		}, want: []string{"stage"}},
		{name: "empty step directory", files: map[string]string{
			"guard/README.md": "soon", "stage/main.go": okMain,
		}, wantErr: "steps/guard: no Go files yet"},
		{name: "main package without func main", files: map[string]string{
			"catalog/main.go": "package main\n\nfunc run() {}\n",
		}, wantErr: "steps/catalog: package main has no func main yet"},
		{name: "method named main does not count", files: map[string]string{
			"catalog/main.go": "package main\n\ntype t struct{}\n\nfunc (t) main() {}\n",
		}, wantErr: "steps/catalog: package main has no func main"},
		{name: "library package", files: map[string]string{
			"preflight/main.go": "package preflight\n\nfunc main() {}\n",
		}, wantErr: "steps/preflight: main.go is package preflight, want package main"},
		{name: "invalid image name", files: map[string]string{
			"Snapshot/main.go": okMain,
		}, wantErr: "steps/Snapshot: name is not a valid image name"},
		{name: "syntax error", files: map[string]string{
			"stage/main.go": "package main\n\nfunc main( {\n",
		}, wantErr: "steps/stage: parse:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				path := filepath.Join(root, "steps", filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Discover(root)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Discover() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover(): %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Discover() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms("linux/amd64, linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	want := []Platform{{"linux", "amd64"}, {"linux", "arm64"}}
	if !slices.Equal(got, want) {
		t.Fatalf("ParsePlatforms = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "linux", "linux/", "/amd64", "linux/arm/v7"} {
		if _, err := ParsePlatforms(bad); err == nil {
			t.Errorf("ParsePlatforms(%q) succeeded, want an error", bad)
		}
	}
}

func TestMeta(t *testing.T) {
	cases := []struct {
		name, version, epoch, tag string
		wantTag, wantVersion      string
		wantCreated               int64
		wantErr                   bool
	}{
		{name: "defaults", version: "0.1.0\n", wantTag: "v0.1.0", wantVersion: "v0.1.0"},
		{name: "tag and epoch", version: "1.2.3", epoch: "1700000000", tag: "dev",
			wantTag: "dev", wantVersion: "v1.2.3", wantCreated: 1700000000},
		{name: "leading v", version: "v0.1.0", wantErr: true},
		{name: "empty", version: "\n", wantErr: true},
		{name: "bad epoch", version: "0.1.0", epoch: "yesterday", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "VERSION"), []byte(tc.version), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SOURCE_DATE_EPOCH", tc.epoch)
			m, err := meta(root, "example.com/ns/", tc.tag)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("meta() = %+v, want an error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Tag != tc.wantTag || m.Version != tc.wantVersion || m.Created.Unix() != tc.wantCreated {
				t.Fatalf("meta() = %+v, want tag %s version %s created %d", m, tc.wantTag, tc.wantVersion, tc.wantCreated)
			}
			if got, want := m.Ref("stage"), "example.com/ns/stage:"+tc.wantTag; got != want {
				t.Fatalf("Ref = %s, want %s", got, want)
			}
		})
	}
}
