package workflowtemplates

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// scanned are the directories (relative to the repository root) whose YAML
// the tests check.
var scanned = []string{"workflowtemplates", "examples"}

// doc is one YAML document of one file.
type doc struct {
	path string // relative to the repository root, for messages
	data []byte
	obj  map[string]any
}

func (d doc) kind() string       { s, _ := d.obj["kind"].(string); return s }
func (d doc) apiVersion() string { s, _ := d.obj["apiVersion"].(string); return s }
func (d doc) isArgo() bool       { return strings.HasPrefix(d.apiVersion(), "argoproj.io/") }

// isManifest reports whether the document is a Kubernetes object (rather
// than a kustomization, a KFP component or a Pulumi project file).
func (d doc) isManifest() bool {
	return d.apiVersion() != "" && d.kind() != "" && !strings.HasPrefix(d.apiVersion(), "kustomize.config.k8s.io/")
}

// isKFPComponent reports whether the document is a KFP v1 component.yaml.
func (d doc) isKFPComponent() bool {
	_, ok := d.obj["implementation"]
	return ok && d.apiVersion() == ""
}

// withObj returns a copy of d whose data is obj re-encoded (for tests that
// break a manifest in memory).
func (d doc) withObj(t testing.TB, obj map[string]any) doc {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return doc{path: d.path, data: b, obj: obj}
}

// deepCopy copies a decoded YAML tree.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd) // this package lives at <root>/workflowtemplates
}

// loadDocs reads every YAML document under the scanned directories.
func loadDocs(t testing.TB) []doc {
	t.Helper()
	root := repoRoot(t)
	var docs []doc
	for _, dir := range scanned {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			ds, err := splitDocs(rel, data)
			docs = append(docs, ds...)
			return err
		})
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
	}
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].path < docs[j].path })
	if len(docs) == 0 {
		t.Fatal("no YAML found; is the test running from workflowtemplates/?")
	}
	return docs
}

func splitDocs(path string, data []byte) ([]doc, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []doc
	for {
		b, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		if len(bytes.TrimSpace(stripComments(b))) == 0 {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return docs, errors.New(path + ": " + err.Error())
		}
		docs = append(docs, doc{path: path, data: b, obj: obj})
	}
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}
