// Package outputs publishes a step's results the two ways its callers read
// them: one file per value in a directory (Argo's outputs.parameters with
// valueFrom.path, KFP's {outputPath}) and one JSON line on stdout (scripts,
// Argo's outputs.result).
package outputs

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// Values are a step's results by output name. Scalars are written to their
// files as plain text; anything else as JSON.
type Values map[string]any

// Writer writes Values. The zero Dir writes no files (stdout only).
type Writer struct {
	Dir    string
	Stdout io.Writer
}

// Files writes one file per value. It is safe to call more than once (for
// example early with defaults, and again with final values); each file is
// replaced atomically so Argo never reads a torn value.
func (w Writer) Files(v Values) error {
	if w.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return fmt.Errorf("create outputs dir %s: %w", w.Dir, err)
	}
	for _, name := range sortedKeys(v) {
		text, err := format(v[name])
		if err != nil {
			return fmt.Errorf("format output %s: %w", name, err)
		}
		if err := writeAtomic(filepath.Join(w.Dir, name), text); err != nil {
			return err
		}
	}
	return nil
}

// Emit writes the files and then the JSON line.
func (w Writer) Emit(v Values) error {
	if err := w.Files(v); err != nil {
		return err
	}
	if w.Stdout == nil {
		return nil
	}
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w.Stdout, "%s\n", line)
	return err
}

func format(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func writeAtomic(path, text string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write output %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return fmt.Errorf("write output %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write output %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write output %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write output %s: %w", path, err)
	}
	return nil
}

func sortedKeys(v Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
