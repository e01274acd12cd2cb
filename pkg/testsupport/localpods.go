package testsupport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/stepcli"
)

// LocalPods is the KanisterStandIn's PodRunner on envtest, which has no
// kubelet: it runs a pod's container as a local process. The image names
// a local program, each PVC is a local directory, and the paths the
// container would see (its mounts) are rewritten to those directories in
// the command and environment. The environment is the pod's alone, with
// Secret references resolved the way the kubelet resolves them, so a
// credential the pod does not get from its Secret is not there.
type LocalPods struct {
	Kube *KubeEnv
	// Images maps an image name, without tag or digest, to what runs it.
	Images map[string]LocalImage
	// Volumes maps "NAMESPACE/CLAIM" to the directory standing for the PVC.
	Volumes map[string]string
}

// LocalImage is the local program that stands for an image's entrypoint,
// with the environment it needs besides the pod's.
type LocalImage struct {
	Path string
	Env  []string
}

// actAsEnv names the step a test binary re-run by StepImage acts as.
const actAsEnv = "MLSTATE_TEST_ACT_AS"

// StepImage is a LocalImage that runs this test binary as the step named
// step; the package's TestMain must call ActAsStep first.
func StepImage(step string) LocalImage {
	return LocalImage{Path: os.Args[0], Env: []string{actAsEnv + "=" + step}}
}

// ActAsStep makes a test binary started by StepImage run that step's
// command line and exit. Call it first in TestMain.
func ActAsStep(apps map[string]func() *cli.App) {
	name := os.Getenv(actAsEnv)
	if name == "" {
		return
	}
	app, ok := apps[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "testsupport: this test binary cannot act as step %q\n", name)
		os.Exit(1)
	}
	stepcli.Main(app())
}

// RunPod runs pod's first container to its end.
func (l LocalPods) RunPod(ctx context.Context, pod *corev1.Pod) (string, error) {
	c := pod.Spec.Containers[0]
	img, ok := l.Images[imageName(c.Image)]
	if !ok {
		return "", fmt.Errorf("ErrImagePull: LocalPods knows no program for image %s", c.Image)
	}
	mounts, cleanup, err := l.mounts(ctx, pod, c)
	defer cleanup()
	if err != nil {
		return "", err
	}
	env := append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, img.Env...)
	for _, e := range c.Env {
		v, set, err := l.envValue(ctx, pod.Namespace, e)
		if err != nil {
			return "", err
		}
		if set {
			env = append(env, e.Name+"="+mounts.rewrite(v))
		}
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return "", errors.New("the container has no command (LocalPods cannot read an image's entrypoint)")
	}
	args := make([]string, 0, len(argv)-1)
	for _, a := range argv[1:] {
		args = append(args, mounts.rewrite(a))
	}
	cmd := exec.CommandContext(ctx, img.Path, args...)
	cmd.Env = env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return log.String(), fmt.Errorf("container %s exited with code %d", c.Name, exit.ExitCode())
	}
	if err != nil {
		return log.String(), fmt.Errorf("run container %s: %w", c.Name, err)
	}
	return log.String(), nil
}

// envValue resolves one env var: a value, or a Secret key (a missing
// optional Secret or key leaves it unset; a missing required one keeps the
// kubelet from starting the container).
func (l LocalPods) envValue(ctx context.Context, ns string, e corev1.EnvVar) (string, bool, error) {
	if e.ValueFrom == nil {
		return e.Value, true, nil
	}
	ref := e.ValueFrom.SecretKeyRef
	if ref == nil {
		return "", false, fmt.Errorf("LocalPods resolves only secretKeyRef env sources (env %s)", e.Name)
	}
	optional := ref.Optional != nil && *ref.Optional
	sec, err := l.Kube.Clientset.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("CreateContainerConfigError: env %s: secret %s/%s: %w", e.Name, ns, ref.Name, err)
	}
	v, ok := sec.Data[ref.Key]
	if !ok && !optional {
		return "", false, fmt.Errorf("CreateContainerConfigError: couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	}
	return string(v), ok, nil
}

// mountTable maps a container's mount paths to local directories.
type mountTable []struct{ path, dir string }

// rewrite replaces a leading mount path (the longest that matches).
func (m mountTable) rewrite(s string) string {
	for _, e := range m {
		if s == e.path {
			return e.dir
		}
		if rest, ok := strings.CutPrefix(s, e.path+"/"); ok {
			return filepath.Join(e.dir, rest)
		}
		// Flags such as --dir=/mnt/pvc.
		if i := strings.Index(s, "="+e.path); i >= 0 && (len(s) == i+1+len(e.path) || s[i+1+len(e.path)] == '/') {
			return s[:i+1] + e.dir + s[i+1+len(e.path):]
		}
	}
	return s
}

// mounts resolves the container's volume mounts: PVCs to their
// directories, emptyDirs and Secrets to fresh temporary ones.
func (l LocalPods) mounts(ctx context.Context, pod *corev1.Pod, c corev1.Container) (mountTable, func(), error) {
	var temps []string
	cleanup := func() {
		for _, d := range temps {
			os.RemoveAll(d)
		}
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	var table mountTable
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, cleanup, fmt.Errorf("volume mount %s names no volume of the pod", vm.Name)
		}
		var dir string
		switch {
		case v.PersistentVolumeClaim != nil:
			key := pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
			if dir, ok = l.Volumes[key]; !ok {
				return nil, cleanup, fmt.Errorf("LocalPods has no directory for PVC %s", key)
			}
		case v.EmptyDir != nil, v.Secret != nil:
			d, err := os.MkdirTemp("", "localpod-"+vm.Name+"-")
			if err != nil {
				return nil, cleanup, err
			}
			temps = append(temps, d)
			dir = d
			if v.Secret != nil {
				if err := l.writeSecret(ctx, pod.Namespace, v.Secret, d); err != nil {
					return nil, cleanup, err
				}
			}
		default:
			return nil, cleanup, fmt.Errorf("LocalPods cannot mount volume %s (only PVCs, emptyDirs and Secrets)", vm.Name)
		}
		table = append(table, struct{ path, dir string }{vm.MountPath, dir})
	}
	sort.Slice(table, func(i, j int) bool { return len(table[i].path) > len(table[j].path) })
	return table, cleanup, nil
}

func (l LocalPods) writeSecret(ctx context.Context, ns string, src *corev1.SecretVolumeSource, dir string) error {
	sec, err := l.Kube.Clientset.CoreV1().Secrets(ns).Get(ctx, src.SecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("MountVolume.SetUp failed: secret %s/%s: %w", ns, src.SecretName, err)
	}
	for k, v := range sec.Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o400); err != nil {
			return err
		}
	}
	return nil
}

// imageName strips an image reference's tag or digest.
func imageName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
