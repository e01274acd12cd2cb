package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// versionVar is the variable every step binary reports with --version.
const versionVar = "github.com/mlstate/mlstate/pkg/stepcli.Version"

// Platform is an image platform; only linux is meaningful for steps.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// dir is the sub-directory of a binary directory that holds p's binaries.
func (p Platform) dir() string { return p.OS + "_" + p.Arch }

// ParsePlatforms parses a comma-separated list such as "linux/amd64,linux/arm64".
func ParsePlatforms(s string) ([]Platform, error) {
	var ps []Platform
	for _, f := range strings.Split(s, ",") {
		os, arch, ok := strings.Cut(strings.TrimSpace(f), "/")
		if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("platform %q: want OS/ARCH, e.g. linux/amd64", f)
		}
		ps = append(ps, Platform{OS: os, Arch: arch})
	}
	return ps, nil
}

// CompileOptions says what Compile builds.
type CompileOptions struct {
	Root      string     // module root; "" means the current directory
	Steps     []string   // step names (directories under steps/)
	Platforms []Platform // one `go build` per platform
	Version   string     // stamped into the binaries, e.g. "v0.1.0"
	Dir       string     // output: Dir/<os>_<arch>/<step>
}

// Compile builds static, stripped binaries of every step for every platform.
// The environment is pinned (no cgo, no VCS stamp, trimmed paths, baseline
// GOAMD64/GOARM64, GOFLAGS cleared) so the same sources and toolchain give the
// same bytes on any machine.
func Compile(ctx context.Context, o CompileOptions) error {
	if len(o.Steps) == 0 {
		return fmt.Errorf("compile: no steps to build")
	}
	if strings.ContainsAny(o.Version, " \t'\"") {
		return fmt.Errorf("compile: version %q must not contain spaces or quotes", o.Version)
	}
	pkgs := make([]string, len(o.Steps))
	for i, s := range o.Steps {
		pkgs[i] = "./steps/" + s
	}
	for _, p := range o.Platforms {
		out := filepath.Join(o.Dir, p.dir())
		if err := os.MkdirAll(out, 0o755); err != nil {
			return fmt.Errorf("compile %s: %w", p, err)
		}
		abs, err := filepath.Abs(out)
		if err != nil {
			return fmt.Errorf("compile %s: %w", p, err)
		}
		args := []string{"build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -X " + versionVar + "=" + o.Version,
			"-o", abs + string(filepath.Separator)}
		cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
		cmd.Dir = o.Root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
			"GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0")
		var stderr strings.Builder
		cmd.Stdout = io.Discard
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("compile steps for %s: %w\n%s", p, err, strings.TrimSpace(stderr.String()))
		}
	}
	return nil
}
