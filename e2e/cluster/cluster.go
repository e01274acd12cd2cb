// Package cluster starts and stops a real single-node Kubernetes cluster in
// a temporary directory: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd with runc, a CNI bridge, kube-proxy and a
// kubelet, all built from source (hack/cluster-bins.sh, hack/testenv.sh) or
// installed from Debian (hack/cluster-deps.sh). It needs root. Stop removes
// every process, container, mount, network device and file it made, also
// after a failed start; a component that exits early fails Start with the
// tail of its log.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Options say where the binaries are and how the node's network is laid out.
type Options struct {
	KubeBin      string   // kubelet, kube-controller-manager, kube-scheduler, kube-proxy
	Assets       string   // kube-apiserver and etcd (the test servers' directory)
	CNIBinDir    string   // bridge, host-local, loopback; default /usr/lib/cni (Debian)
	Images       []string // image archives imported into containerd's k8s.io namespace before the kubelet starts
	SandboxImage string   // the pod sandbox ("pause") image, one of Images
	Bridge       string   // default mlstate0
	PodCIDR      string   // default 10.222.0.0/24; its first address is the node's
	ServiceCIDR  string   // default 10.223.0.0/24
	NodeName     string   // default mlstate-e2e
	Log          io.Writer
}

func (o *Options) defaults() {
	if o.CNIBinDir == "" {
		o.CNIBinDir = "/usr/lib/cni"
	}
	if o.Bridge == "" {
		o.Bridge = "mlstate0"
	}
	if o.PodCIDR == "" {
		o.PodCIDR = "10.222.0.0/24"
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.223.0.0/24"
	}
	if o.NodeName == "" {
		o.NodeName = "mlstate-e2e"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Cluster is a running cluster.
type Cluster struct {
	Dir        string // everything the cluster writes lives here
	NodeIP     string // the node's address, on the bridge: pods reach the host here
	Server     string // the API server's URL
	Version    string // the API server's version, of an attached cluster
	Kubeconfig string // an admin (system:masters) kubeconfig
	Client     *kubernetes.Clientset
	// Timings of each start phase, for measuring the cost.
	Timings []Timing

	opts         Options
	pki          *pki
	procs        []*proc
	kubeletPort  int
	etcdURL      string
	proxyStarted bool
	attached     bool // someone else's cluster (Attach)
}

// Timing is how long one phase of Start took.
type Timing struct {
	Phase    string
	Duration time.Duration
}

// Start brings the cluster up and returns once the node is Ready and the
// default ServiceAccount exists. On error everything started is stopped.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	opts.defaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("the local cluster needs root (kubelet, containerd, network devices)")
	}
	SweepStale(ctx, opts.Log)
	dir, err := os.MkdirTemp("", "mlstate-cluster-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			c.Stop(context.WithoutCancel(ctx))
		}
	}()
	phase := func(name string, f func() error) error {
		start := time.Now()
		fmt.Fprintf(opts.Log, "cluster: %s\n", name)
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		c.Timings = append(c.Timings, Timing{name, time.Since(start)})
		return nil
	}
	for _, p := range []struct {
		name string
		f    func() error
	}{
		{"network", c.startNetwork},
		{"certificates", c.writePKI},
		{"etcd", func() error { return c.startEtcd(ctx) }},
		{"kube-apiserver", func() error { return c.startAPIServer(ctx) }},
		{"controllers", func() error { return c.startControllers(ctx) }},
		{"containerd", func() error { return c.startContainerd(ctx) }},
		{"kubelet", func() error { return c.startKubelet(ctx) }},
		{"kube-proxy", func() error { return c.startKubeProxy(ctx) }},
		{"service accounts", func() error { return c.waitServiceAccounts(ctx) }},
	} {
		if err := phase(p.name, p.f); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Err reports a component that has exited since Start, with its log tail.
func (c *Cluster) Err() error {
	for _, p := range c.procs {
		select {
		case <-p.exited:
			return p.crashErr()
		default:
		}
	}
	return nil
}

func (c *Cluster) bin(dir, name string) string { return filepath.Join(dir, name) }

func (c *Cluster) startNetwork() error {
	ip, _, err := net.ParseCIDR(c.opts.PodCIDR)
	if err != nil {
		return fmt.Errorf("pod CIDR %q: %w", c.opts.PodCIDR, err)
	}
	ip = ip.To4()
	ip[3]++
	c.NodeIP = ip.String()
	ones := strings.SplitN(c.opts.PodCIDR, "/", 2)[1]
	ctx := context.Background()
	if _, err := net.InterfaceByName(c.opts.Bridge); err == nil {
		return fmt.Errorf("network device %s exists: another local cluster runs, or one was killed (go run ./hack/cluster clean removes it)", c.opts.Bridge)
	}
	if err := run(ctx, "ip", "link", "add", c.opts.Bridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run(ctx, "ip", "addr", "add", c.NodeIP+"/"+ones, "dev", c.opts.Bridge); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", c.opts.Bridge, "up"); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.Dir, "bridge"), c.opts.Bridge); err != nil {
		return err
	}
	return writeFile(filepath.Join(c.Dir, "cni", "net.d", "10-mlstate.conflist"), c.cniConfig())
}

func (c *Cluster) writePKI() error {
	p, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return err
	}
	c.pki = p
	svcIP, _, err := net.ParseCIDR(c.opts.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", c.opts.ServiceCIDR, err)
	}
	svcIP = svcIP.To4()
	svcIP[3]++
	ips := []net.IP{net.ParseIP(c.NodeIP), net.ParseIP("127.0.0.1"), svcIP}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	for _, cert := range []struct {
		name, cn string
		groups   []string
		ips      []net.IP
		dns      []string
	}{
		{"apiserver", "kube-apiserver", nil, ips, dns},
		{"admin", "mlstate-e2e-admin", []string{"system:masters"}, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		{"controller-manager", "system:kube-controller-manager", nil, nil, nil},
		{"scheduler", "system:kube-scheduler", nil, nil, nil},
		{"kube-proxy", "system:kube-proxy", nil, nil, nil},
		{"kubelet", "system:node:" + c.opts.NodeName, []string{"system:nodes"}, []net.IP{net.ParseIP(c.NodeIP)}, []string{c.opts.NodeName}},
	} {
		if err := p.issue(cert.name, cert.cn, cert.groups, cert.ips, cert.dns); err != nil {
			return err
		}
	}
	return p.serviceAccountKey()
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client, peer := freePort(), freePort()
	if client == 0 || peer == 0 {
		return errors.New("no free port for etcd")
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", client)
	p, err := startProc(c.Dir, "etcd", c.bin(c.opts.Assets, "etcd"),
		"--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peer),
		"--unsafe-no-fsync", "--quota-backend-bytes", "1073741824", "--log-level", "warn")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.etcdURL = url
	return waitFor(ctx, "etcd", time.Minute, c.procs, httpOK(url+"/health", nil))
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	port := freePort()
	c.Server = fmt.Sprintf("https://%s:%d", c.NodeIP, port)
	p, err := startProc(c.Dir, "kube-apiserver", c.bin(c.opts.Assets, "kube-apiserver"),
		"--etcd-servers", c.etcdURL,
		"--bind-address", c.NodeIP, "--advertise-address", c.NodeIP, "--secure-port", strconv.Itoa(port),
		"--tls-cert-file", c.pki.path("apiserver.crt"), "--tls-private-key-file", c.pki.path("apiserver.key"),
		"--client-ca-file", c.pki.path("ca.crt"),
		"--kubelet-client-certificate", c.pki.path("apiserver-kubelet-client.crt"),
		"--kubelet-client-key", c.pki.path("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", c.pki.path("sa.pub"),
		"--service-account-signing-key-file", c.pki.path("sa.key"),
		"--service-cluster-ip-range", c.opts.ServiceCIDR,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--allow-privileged=true",
		"--cert-dir", filepath.Join(c.Dir, "apiserver-certs"))
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kube-proxy", "kubelet"} {
		path := filepath.Join(c.Dir, name+".kubeconfig")
		if name == "admin" {
			path = c.Kubeconfig
		}
		if err := c.pki.kubeconfig(path, c.Server, name); err != nil {
			return err
		}
	}
	tlsCfg, err := c.adminTLS()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-apiserver", 3*time.Minute, c.procs, httpOK(c.Server+"/readyz", tlsCfg)); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	c.Client, err = kubernetes.NewForConfig(cfg)
	return err
}

func (c *Cluster) adminTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509CertPool(c.pki)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func (c *Cluster) startControllers(ctx context.Context) error {
	kcm, err := startProc(c.Dir, "kube-controller-manager", c.bin(c.opts.KubeBin, "kube-controller-manager"),
		"--kubeconfig", filepath.Join(c.Dir, "controller-manager.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(c.Dir, "controller-manager.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(c.Dir, "controller-manager.kubeconfig"),
		"--service-account-private-key-file", c.pki.path("sa.key"),
		"--root-ca-file", c.pki.path("ca.crt"),
		"--use-service-account-credentials=true",
		"--service-cluster-ip-range", c.opts.ServiceCIDR,
		"--leader-elect=false", "--secure-port=0",
		"--controllers=*")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kcm)
	sched, err := startProc(c.Dir, "kube-scheduler", c.bin(c.opts.KubeBin, "kube-scheduler"),
		"--kubeconfig", filepath.Join(c.Dir, "scheduler.kubeconfig"),
		"--authentication-kubeconfig", filepath.Join(c.Dir, "scheduler.kubeconfig"),
		"--authorization-kubeconfig", filepath.Join(c.Dir, "scheduler.kubeconfig"),
		"--leader-elect=false", "--secure-port=0")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, sched)
	return nil
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	cfg := filepath.Join(c.Dir, "containerd", "config.toml")
	if err := writeFile(cfg, c.containerdConfig()); err != nil {
		return err
	}
	p, err := startProc(c.Dir, "containerd", "containerd", "--config", cfg)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	if err := waitFor(ctx, "containerd", time.Minute, c.procs, func(ctx context.Context) (bool, string) {
		if err := run(ctx, "ctr", "--address", c.containerdSock(), "version"); err != nil {
			return false, err.Error()
		}
		return true, ""
	}); err != nil {
		return err
	}
	for _, img := range c.opts.Images {
		if err := c.ImportImage(ctx, img); err != nil {
			return err
		}
	}
	return nil
}

// ImportImage imports an image archive (docker-save or OCI layout tar) into
// the namespace the kubelet uses, so pods run it with imagePullPolicy Never
// or IfNotPresent.
func (c *Cluster) ImportImage(ctx context.Context, archive string) error {
	if c.attached {
		return fmt.Errorf("import image %s: %w", archive, ErrAttached)
	}
	return run(ctx, "ctr", "--address", c.containerdSock(), "-n", "k8s.io", "images", "import", "--all-platforms", archive)
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	c.kubeletPort = freePort()
	cfg := filepath.Join(c.Dir, "kubelet", "config.yaml")
	if err := writeFile(cfg, c.kubeletConfig()); err != nil {
		return err
	}
	p, err := startProc(c.Dir, "kubelet", c.bin(c.opts.KubeBin, "kubelet"),
		"--config", cfg,
		"--kubeconfig", filepath.Join(c.Dir, "kubelet.kubeconfig"),
		"--root-dir", filepath.Join(c.Dir, "kubelet"),
		"--hostname-override", c.opts.NodeName,
		"--node-ip", c.NodeIP,
		"--v", "1")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return waitFor(ctx, "node "+c.opts.NodeName+" Ready", 3*time.Minute, c.procs, func(ctx context.Context) (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s: %s", cond.Status, cond.Message)
			}
		}
		return false, "no Ready condition yet"
	})
}

func (c *Cluster) startKubeProxy(ctx context.Context) error {
	health := freePort()
	p, err := startProc(c.Dir, "kube-proxy", c.bin(c.opts.KubeBin, "kube-proxy"),
		"--kubeconfig", filepath.Join(c.Dir, "kube-proxy.kubeconfig"),
		"--hostname-override", c.opts.NodeName,
		"--proxy-mode", "iptables",
		"--cluster-cidr", c.opts.PodCIDR,
		"--healthz-bind-address", fmt.Sprintf("127.0.0.1:%d", health),
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", freePort()),
		"--conntrack-max-per-core", "0")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.proxyStarted = true
	return waitFor(ctx, "kube-proxy", 2*time.Minute, c.procs, httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", health), nil))
}

// waitServiceAccounts waits for what a pod's token needs: the default
// ServiceAccount (controller-manager) and the CA ConfigMap it mounts.
func (c *Cluster) waitServiceAccounts(ctx context.Context) error {
	return waitFor(ctx, "default ServiceAccount and kube-root-ca.crt", 2*time.Minute, c.procs, func(ctx context.Context) (bool, string) {
		if _, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		if _, err := c.Client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func httpOK(url string, tlsCfg *tls.Config) func(ctx context.Context) (bool, string) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return true, ""
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RepoOptions are the options for a checkout at root after
// `make cluster-bins` (hack/cluster-bins.sh and hack/testenv.sh): binaries
// from bin/, and the busybox and sandbox images written to
// bin/cluster/images/busybox.tar on first use.
func RepoOptions(ctx context.Context, root string) (Options, error) {
	o := Options{
		KubeBin:      filepath.Join(root, "bin", "cluster", "kube"),
		Assets:       filepath.Join(root, "bin", "testenv", "k8s"),
		SandboxImage: SandboxImage,
	}
	var missing []string
	for _, p := range []string{
		filepath.Join(o.KubeBin, "kubelet"), filepath.Join(o.KubeBin, "kube-controller-manager"),
		filepath.Join(o.KubeBin, "kube-scheduler"), filepath.Join(o.KubeBin, "kube-proxy"),
		filepath.Join(o.Assets, "kube-apiserver"), filepath.Join(o.Assets, "etcd"),
	} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, tool := range []string{"containerd", "runc", "ctr", "ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		missing = append(missing, "/usr/lib/cni/bridge")
	}
	if len(missing) > 0 {
		return o, &MissingError{Missing: missing}
	}
	archive := filepath.Join(root, "bin", "cluster", "images", "busybox.tar")
	if _, err := os.Stat(archive); err != nil {
		if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
			return o, err
		}
		if err := WriteBusyboxImages(ctx, "/bin/busybox", archive+".tmp"); err != nil {
			return o, err
		}
		if err := os.Rename(archive+".tmp", archive); err != nil {
			return o, err
		}
	}
	o.Images = []string{archive}
	return o, nil
}

// MissingError lists the binaries a local cluster needs and did not find.
type MissingError struct{ Missing []string }

func (e *MissingError) Error() string {
	return "the local cluster needs " + strings.Join(e.Missing, ", ") + ": run `make cluster-bins` (as root: it installs containerd, runc, CNI plugins, iptables and busybox-static from Debian and builds the Kubernetes components)"
}

// MemoryRSS is the resident memory, in bytes, of every process of the
// cluster (control plane, node, containerd shims; not the containers'
// processes), by command name.
func (c *Cluster) MemoryRSS() map[string]int64 {
	rss := map[string]int64{}
	for _, pid := range procsNaming(c.Dir) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var name string
		for _, line := range strings.Split(string(status), "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "Name:" {
				name = f[1]
			}
			if len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				rss[name] += kb * 1024
			}
		}
	}
	return rss
}

// Run starts another long-running process alongside the cluster (Argo's
// controller, say): Stop stops it, Err reports its exit, and its output is
// in Dir/logs/<name>.log.
func (c *Cluster) Run(name, bin string, env []string, args ...string) error {
	if c.attached {
		return fmt.Errorf("run %s: %w", name, ErrAttached)
	}
	p, err := startProcEnv(c.Dir, name, bin, env, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// ServiceIP is the kubernetes Service's address (the Service range's first).
func (c *Cluster) ServiceIP() string {
	ip, _, err := net.ParseCIDR(c.opts.ServiceCIDR)
	if err != nil {
		return ""
	}
	ip = ip.To4()
	ip[3]++
	return ip.String()
}
