//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mlstate/mlstate/e2e/cluster"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// TestPodOnNode checks what every later e2e test relies on: a pod of a
// locally imported image is scheduled and started by the kubelet, gets its
// ServiceAccount's token, authenticates with it to the API server through
// the kubernetes Service (kube-proxy), reaches MinIO on the node's address,
// and writes into a PersistentVolume backed by a node directory.
func TestPodOnNode(t *testing.T) {
	c := needNode(t, "MinIO and a hostPath volume on the node, an image imported there")
	ctx := t.Context()
	cs := c.Client
	endpoint, _, _ := startMinIO(t, c.NodeIP)

	ns := createNamespace(t, cs, "e2e-pod")
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Join(c.Dir, "volumes", ns)
	if err := os.MkdirAll(hostDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hostDir, 0o777); err != nil {
		t.Fatal(err)
	}
	pvc := hostPathClaim(t, cs, ns, "data", hostDir)

	script := strings.Join([]string{
		"set -e", // no -x: the token must not reach the log
		// The token goes to the volume for the test to review: busybox's
		// wget cannot complete a TLS handshake with the API server, so the
		// pod checks the Service route with a TCP connect; Argo's executor
		// (TestArgoWorkflowSucceeds) makes real authenticated calls.
		"cp /var/run/secrets/kubernetes.io/serviceaccount/token /data/token",
		`nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT" </dev/null`,
		`echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" > /data/service.txt`,
		fmt.Sprintf("wget -q -S -O /dev/null http://%s/minio/health/live 2>/data/minio.txt", endpoint),
		"echo written-by-pod > /data/hello.txt",
	}, "\n")
	nonRoot, uid := true, int64(65532)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "runner",
			RestartPolicy:      corev1.RestartPolicyNever,
			SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: &nonRoot, RunAsUser: &uid},
			Containers: []corev1.Container{{
				Name: "smoke", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc}}}},
		},
	}
	created := time.Now()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPodDone(t, cs, ns, "smoke", 3*time.Minute)
	t.Logf("pod %s: created → %s in %s", p.Name, p.Status.Phase, time.Since(created).Round(time.Millisecond))
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod ended %s: %s", p.Status.Phase, podReport(ctx, cs, p))
	}
	token := strings.TrimSpace(readFile(t, filepath.Join(hostDir, "token")))
	_ = os.Remove(filepath.Join(hostDir, "token"))
	review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + ns + ":runner"; !review.Status.Authenticated || review.Status.User.Username != want {
		t.Errorf("the pod's token: authenticated %v as %q (%s), want %s", review.Status.Authenticated, review.Status.User.Username, review.Status.Error, want)
	}
	if got, svc := strings.TrimSpace(readFile(t, filepath.Join(hostDir, "service.txt"))), c.ServiceIP()+":443"; got != svc {
		t.Errorf("pod reached the API server at %s, want the kubernetes Service %s", got, svc)
	}
	if got := readFile(t, filepath.Join(hostDir, "minio.txt")); !strings.Contains(got, "200 OK") {
		t.Errorf("MinIO health from the pod: %q, want HTTP 200", got)
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(hostDir, "hello.txt"))); got != "written-by-pod" {
		t.Errorf("file the pod wrote on the volume holds %q", got)
	}
	var total int64
	for name, b := range c.MemoryRSS() {
		t.Logf("RSS %-24s %6.1f MiB", name, float64(b)/(1<<20))
		total += b
	}
	t.Logf("RSS total %.1f MiB", float64(total)/(1<<20))
}

func createNamespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace's default ServiceAccount comes from the controller-manager.
	testsupport.Eventually(t, time.Minute, "default ServiceAccount in "+ns.Name, func(ctx context.Context) (bool, string) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return ns.Name
}

// hostPathClaim creates a PersistentVolume on a node directory and a claim
// bound to it, as a local-storage cluster provides them.
func hostPathClaim(t *testing.T, cs kubernetes.Interface, ns, name, dir string) string {
	t.Helper()
	if err := createHostPathClaim(t.Context(), cs, ns, name, dir); err != nil {
		t.Fatal(err)
	}
	return name
}

// createHostPathClaim creates a PersistentVolume on a node directory and a
// claim bound to it, and waits until it is bound.
func createHostPathClaim(ctx context.Context, cs kubernetes.Interface, ns, name, dir string) error {
	dirType := corev1.HostPathDirectoryOrCreate
	pvName := ns + "-" + name
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              "e2e-hostpath",
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create PersistentVolume %s: %w", pvName, err)
	}
	sc := "e2e-hostpath"
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &sc,
			VolumeName:       pvName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create PersistentVolumeClaim %s/%s: %w", ns, name, err)
	}
	if last, ok := testsupport.Poll(ctx, time.Minute, func(ctx context.Context) (bool, string) {
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == corev1.ClaimBound, "phase " + string(got.Status.Phase)
	}); !ok {
		return fmt.Errorf("claim %s/%s not bound: %s", ns, name, last)
	}
	return nil
}

// waitPodDone waits for the pod to succeed or fail.
func waitPodDone(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	seen := ""
	last, ok := testsupport.Poll(t.Context(), timeout, func(ctx context.Context) (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if ctx.Err() != nil && seen != "" {
				return false, seen // the deadline, not news: keep what was seen
			}
			return false, err.Error()
		}
		pod = p
		if err := clus.Err(); err != nil {
			return true, err.Error()
		}
		seen = podReport(ctx, cs, p)
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, seen
	})
	if err := clus.Err(); err != nil {
		t.Fatalf("the local cluster broke: %v", err)
	}
	if !ok {
		t.Fatalf("pod %s/%s did not finish in %s: %s", ns, name, timeout, last)
	}
	return pod
}

// podReport is a pod's phase, container states and events, for failures.
func podReport(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s node %q", p.Status.Phase, p.Spec.NodeName)
	for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		switch {
		case st.State.Waiting != nil:
			fmt.Fprintf(&b, "; %s waiting %s: %s", st.Name, st.State.Waiting.Reason, st.State.Waiting.Message)
		case st.State.Terminated != nil:
			fmt.Fprintf(&b, "; %s terminated %d %s: %s", st.Name, st.State.Terminated.ExitCode, st.State.Terminated.Reason, st.State.Terminated.Message)
		case st.State.Running != nil:
			fmt.Fprintf(&b, "; %s running", st.Name)
		}
	}
	for _, ctr := range p.Spec.Containers {
		raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: ctr.Name, TailLines: ptr(int64(20))}).DoRaw(ctx)
		if err == nil && len(raw) > 0 {
			fmt.Fprintf(&b, "\n  log of %s:\n    %s", ctr.Name, strings.ReplaceAll(strings.TrimSpace(string(raw)), "\n", "\n    "))
		}
	}
	evs, err := cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
	if err == nil {
		for _, e := range evs.Items {
			fmt.Fprintf(&b, "\n  event %s %s: %s", e.Type, e.Reason, e.Message)
		}
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}
