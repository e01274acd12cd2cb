package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ownerFile holds the pid of the process that started a cluster, so that a
// later Start can tell a cluster left by a killed process from a live one.
const ownerFile = "owner.pid"

// Stop tears the cluster down: kubelet first so it restarts nothing, then
// every container (through runc, which works even when containerd is gone),
// containerd, kube-proxy's rules, the control plane; then any process still
// naming the cluster's directory, the mounts under it, the bridge and the
// directory itself. It is safe to call on a half-started cluster.
func (c *Cluster) Stop(ctx context.Context) error {
	if c.attached {
		return os.RemoveAll(c.Dir)
	}
	// Helper commands (runc, ip, kube-proxy --cleanup) get a deadline, so a
	// stuck one cannot hang the teardown.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var errs []error
	byName := map[string]*proc{}
	for _, p := range c.procs {
		byName[p.name] = p
	}
	if p := byName["kubelet"]; p != nil {
		p.stop(10 * time.Second)
	}
	errs = append(errs, killContainers(ctx, c.runcRoot()))
	if p := byName["containerd"]; p != nil {
		p.stop(10 * time.Second)
	}
	if p := byName["kube-proxy"]; p != nil {
		p.stop(5 * time.Second)
	}
	if c.proxyStarted {
		cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
		if err := run(cctx, c.bin(c.opts.KubeBin, "kube-proxy"), "--cleanup", "--proxy-mode", "iptables"); err != nil {
			errs = append(errs, err)
		}
		ccancel()
		errs = append(errs, removeKubeletChains(ctx))
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	errs = append(errs, cleanDir(ctx, c.Dir, c.opts.Log))
	return errors.Join(errs...)
}

// cleanDir removes what a cluster in dir may have left: processes whose
// command line names dir (containerd shims, containers' runc), mounts under
// dir, the bridge recorded in dir/bridge, and dir.
func cleanDir(ctx context.Context, dir string, log io.Writer) error {
	var errs []error
	errs = append(errs, killContainers(ctx, filepath.Join(dir, "runc")))
	for _, pid := range procsNaming(dir) {
		fmt.Fprintf(log, "cluster: killing leftover process %d\n", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	errs = append(errs, unmountUnder(dir))
	if b, err := os.ReadFile(filepath.Join(dir, "bridge")); err == nil {
		if err := run(ctx, "ip", "link", "del", strings.TrimSpace(string(b))); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	}
	return errors.Join(errs...)
}

// killContainers kills and deletes every container runc knows under root
// (one directory per containerd namespace).
func killContainers(ctx context.Context, root string) error {
	nss, err := os.ReadDir(root)
	if err != nil {
		return nil // no container was ever created
	}
	var errs []error
	for _, ns := range nss {
		r := filepath.Join(root, ns.Name())
		out, err := output(ctx, "runc", "--root", r, "list", "-q")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, id := range strings.Fields(out) {
			_ = run(ctx, "runc", "--root", r, "kill", "--all", id, "KILL")
			if err := run(ctx, "runc", "--root", r, "delete", "--force", id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// procsNaming lists the processes whose command line mentions dir.
func procsNaming(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder detaches every mount point under dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// SweepStale cleans up clusters whose starting process is gone (a test
// binary killed by a timeout, say), so they do not block the next Start.
func SweepStale(ctx context.Context, log io.Writer) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "mlstate-cluster-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
				continue // still owned by a live process
			}
		}
		fmt.Fprintf(log, "cluster: cleaning up %s, left by a process that is gone\n", dir)
		if err := cleanDir(ctx, dir, log); err != nil {
			fmt.Fprintf(log, "cluster: %v\n", err)
		}
	}
}

// kubeletChains are the iptables chains the kubelet makes on start and never
// removes (kube-proxy --cleanup removes kube-proxy's own).
var kubeletChains = map[string]bool{"KUBE-FIREWALL": true, "KUBE-KUBELET-CANARY": true, "KUBE-IPTABLES-HINT": true}

// removeKubeletChains deletes the kubelet's chains and the rules jumping to
// them, in IPv4 and IPv6, so the machine's firewall is as it was.
func removeKubeletChains(ctx context.Context) error {
	var errs []error
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			rules, err := output(ctx, cmd, "-t", table, "-S")
			if err != nil {
				continue // no such table or command
			}
			var chains []string
			for _, line := range strings.Split(rules, "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 2 && f[0] == "-N" && kubeletChains[f[1]]:
					chains = append(chains, f[1])
				case len(f) > 3 && f[0] == "-A" && !kubeletChains[f[1]] && f[len(f)-2] == "-j" && kubeletChains[f[len(f)-1]]:
					args := append([]string{"-t", table, "-D"}, f[1:]...)
					errs = append(errs, run(ctx, cmd, args...))
				}
			}
			for _, ch := range chains {
				errs = append(errs, run(ctx, cmd, "-t", table, "-F", ch), run(ctx, cmd, "-t", table, "-X", ch))
			}
		}
	}
	return errors.Join(errs...)
}
