package guard

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Install copies the running executable to dst (parent directories are
// created), mode 0755, atomically: an init container can copy guard into
// an emptyDir that the training container, whose image has no shell, then
// runs guard from. An existing dst is replaced.
func Install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install guard: find this executable: %w", err)
	}
	return copyExecutable(self, dst)
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("install guard: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install guard into %s: %w", dst, err)
	}
	return nil
}
