package testsupport

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// MountTmpfs mounts a tmpfs of the given size (e.g. "2m") on dir, creating
// dir, and unmounts it when the test ends. Tests of mount points and of a
// full file system need it. Mounting needs root (CAP_SYS_ADMIN): without
// it the test skips with a message, except when CI is set, where tests
// run as root and a skip would hide a case never run.
func MountTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		msg := "cannot mount a tmpfs on " + dir + " (" + err.Error() + "): this test needs root (CAP_SYS_ADMIN)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " [CI is set, so this fails instead of skipping]")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}
