//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Volumes are seeded and read from pods, as a user would check a PVC, so
// the same code serves the local node and an attached cluster: there the
// claims come from its default StorageClass, here from node directories.

// volumePodTimeout bounds one seeding or reading pod.
const volumePodTimeout = 3 * time.Minute

// createClaim creates PVC name in the ml namespace, writable by uid: on the
// local node a PersistentVolume on a directory owned by uid; on an attached
// cluster a claim of its default StorageClass (bound at first use). A claim
// that exists already is kept.
func (e *mlEnv) createClaim(ctx context.Context, name string, uid int) error {
	cs := e.c.Client
	if _, err := cs.CoreV1().PersistentVolumeClaims(mlNamespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if !e.c.Attached() {
		dir := filepath.Join(e.c.Dir, "volumes", mlNamespace+"-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(dir, uid, uid); err != nil {
			return err
		}
		return createHostPathClaim(ctx, cs, mlNamespace, name, dir)
	}
	_, err := cs.CoreV1().PersistentVolumeClaims(mlNamespace).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create PersistentVolumeClaim %s/%s: %w", mlNamespace, name, err)
	}
	return nil
}

// claim is createClaim for a test.
func (e *mlEnv) claim(t *testing.T, name string, uid int) {
	t.Helper()
	if err := e.createClaim(t.Context(), name, uid); err != nil {
		t.Fatal(err)
	}
}

// seedVolume replaces the content of PVC claim with files (by slash-separated
// relative path), owned by uid, from a pod. A volume's lost+found stays.
func (e *mlEnv) seedVolume(t *testing.T, claim string, uid int, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var sh strings.Builder
	sh.WriteString("set -e; cd /v; find . -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf {} +\n")
	for _, n := range names {
		if strings.ContainsAny(n, "'\n") {
			t.Fatalf("file name %q: the seeding script cannot carry it", n)
		}
		if d := filepath.Dir(n); d != "." {
			fmt.Fprintf(&sh, "mkdir -p '%s'\n", d)
		}
		fmt.Fprintf(&sh, "echo '%s' | base64 -d > '%s'\n", base64.StdEncoding.EncodeToString([]byte(files[n])), n)
	}
	fmt.Fprintf(&sh, "chown -R %d:%d /v\n", uid, uid)
	e.volumePod(t, claim, "seed", sh.String())
}

// volumeFiles reads every regular file of PVC claim from a pod, by relative
// path (lost+found left out).
func (e *mlEnv) volumeFiles(t *testing.T, claim string) map[string]string {
	t.Helper()
	out := e.volumePod(t, claim, "read",
		`set -e; cd /v; find . -type f ! -path './lost+found/*' | while read -r f; do printf '%s ' "${f#./}"; base64 -w0 "$f"; echo; done`)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		name, enc, _ := strings.Cut(line, " ")
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			t.Fatalf("read volume %s: line %q: %v", claim, line, err)
		}
		got[name] = string(b)
	}
	return got
}

// volumePod runs script in a busybox pod (the examples' image) with PVC
// claim at /v, as root so it may chown, and returns its output.
func (e *mlEnv) volumePod(t *testing.T, claim, what, script string) string {
	t.Helper()
	cs := e.c.Client
	pod, err := cs.CoreV1().Pods(mlNamespace).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + what + "-" + claim + "-"},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{
				Name: "sh", Image: ExampleShellImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"sh", "-c", script},
				SecurityContext: &corev1.SecurityContext{RunAsUser: ptr(int64(0))},
				VolumeMounts:    []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
			}},
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s volume %s: create pod: %v", what, claim, err)
	}
	defer func() {
		_ = cs.CoreV1().Pods(mlNamespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	}()
	done := waitPodDone(t, cs, mlNamespace, pod.Name, volumePodTimeout)
	raw, err := cs.CoreV1().Pods(mlNamespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "sh"}).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("%s volume %s: log of pod %s: %v", what, claim, pod.Name, err)
	}
	if done.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("%s volume %s: pod %s: %s", what, claim, pod.Name, podReport(t.Context(), cs, done))
	}
	return string(raw)
}

// attachedStore takes the store of an attached cluster from the
// environment: MLSTATE_E2E_STORE (an s3:// URL that both the cluster's pods
// and this machine reach) and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
// which go into the store Secret.
func (e *mlEnv) attachedStore() error {
	e.store, e.user, e.key = os.Getenv("MLSTATE_E2E_STORE"), os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if e.store == "" || e.user == "" || e.key == "" {
		return fmt.Errorf("an attached cluster needs a store its pods reach: set MLSTATE_E2E_STORE (e.g. s3://mlstate?endpoint=http://minio.minio.svc:9000), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return nil
}
