package cluster

import (
	"fmt"
	"os"
	"path/filepath"
)

// containerdConfig keeps every path of containerd's under the cluster's
// directory, so nothing of the machine's is touched and teardown finds all of
// it. restrict_oom_score_adj is needed where lowering oom_score_adj is
// refused (every sandbox fails with "can't get final child's PID from pipe"
// otherwise).
func (c *Cluster) containerdConfig() string {
	d := c.Dir
	return fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[5]q
    conf_dir = %[6]q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[7]q
        SystemdCgroup = false
`, filepath.Join(d, "containerd", "root"), filepath.Join(d, "containerd", "state"), c.containerdSock(),
		c.opts.SandboxImage, c.opts.CNIBinDir, filepath.Join(d, "cni", "net.d"), c.runcRoot())
}

func (c *Cluster) containerdSock() string { return filepath.Join(c.Dir, "containerd.sock") }
func (c *Cluster) runcRoot() string       { return filepath.Join(c.Dir, "runc") }

// cniConfig: one bridge with the node's address as gateway. No default
// route and no masquerading: pods reach the node (API server, MinIO) and the
// Service range, and nothing beyond the machine.
func (c *Cluster) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "mlstate-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": %q}],
      "dataDir": %q
    }
  }]
}
`, c.opts.Bridge, c.opts.PodCIDR, c.NodeIP, c.opts.ServiceCIDR, filepath.Join(c.Dir, "cni", "ipam"))
}

// kubeletConfig: the settings that make a kubelet run pods on a cgroup v1
// VM with a small disk (see README), and every path under the cluster's
// directory.
func (c *Cluster) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %[3]q}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
localStorageCapacityIsolation: false
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
containerRuntimeEndpoint: unix://%[4]s
podLogsDir: %[5]q
volumePluginDir: %[6]q
resolvConf: ""
registerNode: true
maxPods: 50
serializeImagePulls: false
`, c.NodeIP, c.kubeletPort, c.pki.path("ca.crt"), c.containerdSock(),
		filepath.Join(c.Dir, "pod-logs"), filepath.Join(c.Dir, "kubelet-plugins"))
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
