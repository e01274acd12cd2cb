package testsupport

// The Kanister functions that run a pod and read its log (TEST-ONLY):
// PrepareData and KubeTask. The stand-in builds the pod the way Kanister
// does (pkg/kube/pod.go GetPodObjectFromPodOptions, pkg/function
// prepare_data.go and kube_task.go) and hands it to a PodRunner: on envtest,
// which has no kubelet, LocalPods runs the container's command as a process
// against local directories standing for the PVCs; on a real cluster a
// runner can create the pod itself.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// PodRunner runs a pod that a Kanister function started, to its end. It
// returns the container's log (stdout and stderr, as the kubelet keeps
// them) and, when the container did not exit 0 or could not start, an
// error.
type PodRunner interface {
	RunPod(ctx context.Context, pod *corev1.Pod) (log string, err error)
}

// SetPodRunner makes the stand-in run PrepareData and KubeTask phases
// through r. Without one, their outputs are fabricated like every other
// function's.
func (s *KanisterStandIn) SetPodRunner(r PodRunner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runner = r
}

func (s *KanisterStandIn) podRunner() PodRunner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runner
}

// podFunctions are the functions whose phase runs podFunction.
var podFunctions = map[string]bool{"PrepareData": true, "KubeTask": true}

// runPodFunction follows prepareDataFunc.Exec and kubeTaskFunc.Exec: build
// the pod, run it, parse the phase outputs from its log (output.go
// LogAndParse). PrepareData fails on the pod's failure only with
// failOnError: true; KubeTask always waits for completion and fails.
func (r *standInRun) runPodFunction(ctx context.Context, runner PodRunner, fn string, args map[string]any) (map[string]any, error) {
	pod, err := r.functionPod(ctx, fn, args)
	if err != nil {
		return nil, err
	}
	log, runErr := runner.RunPod(ctx, pod)
	out, err := parsePhaseOutputs(log)
	if err != nil {
		//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
		return nil, fmt.Errorf("Failed to parse phase output: %w", err)
	}
	failOnError := fn == "KubeTask"
	if fn == "PrepareData" {
		failOnError, _ = args["failOnError"].(bool)
	}
	if runErr != nil && failOnError {
		//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
		return nil, fmt.Errorf("Failed while waiting for Pod to complete: Pod failed or did not transition into complete state: %s: %w", logTail(log, 10), runErr)
	}
	return out, nil
}

// functionPod builds the pod as GetPodObjectFromPodOptions does: one
// container named "container" with the image and command, PVCs mounted
// read-only when their access mode is, restartPolicy Never, the label
// createdBy=kanister, podLabels and podAnnotations, then podOverride merged
// in with a strategic merge patch. PrepareData checks that every PVC exists
// first.
func (r *standInRun) functionPod(ctx context.Context, fn string, args map[string]any) (*corev1.Pod, error) {
	ns, _ := args["namespace"].(string)
	if ns == "" {
		ns = r.s.ns // KubeTask without a namespace runs in the controller's
	}
	image, _ := args["image"].(string)
	var command []string
	for _, c := range asSlice(args["command"]) {
		command = append(command, fmt.Sprint(c))
	}
	if image == "" || len(command) == 0 {
		return nil, fmt.Errorf("%s needs image and command", fn)
	}
	c := corev1.Container{Name: "container", Image: image, Command: command, ImagePullPolicy: corev1.PullIfNotPresent}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever}
	prefix := "kanister-job-"
	if fn == "PrepareData" {
		prefix = "prepare-data-job-"
		spec.ServiceAccountName, _ = args["serviceaccount"].(string)
		i := 0
		for claim, mount := range asMap(args["volumes"]) {
			pvc, err := r.s.k.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
			if err != nil {
				//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
				return nil, fmt.Errorf("Failed to retrieve PVC. namespace=%s name=%s: %w", ns, claim, err)
			}
			ro := len(pvc.Spec.AccessModes) > 0
			for _, m := range pvc.Spec.AccessModes {
				ro = ro && m == corev1.ReadOnlyMany
			}
			name := fmt.Sprintf("vol-%d", i)
			i++
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: fmt.Sprint(mount), ReadOnly: ro})
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: ro}}})
		}
		if len(spec.Volumes) == 0 {
			//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
			return nil, errors.New("No volumes found") // a PVC object has no pods to take them from
		}
	}
	spec.Containers = []corev1.Container{c}
	if o := asMap(args["podOverride"]); len(o) > 0 {
		base, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		patch, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		merged, err := strategicpatch.StrategicMergePatch(base, patch, corev1.PodSpec{})
		if err != nil {
			//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
			return nil, fmt.Errorf("Failed to create pod. Failed to override pod specs.: %w", err)
		}
		spec = corev1.PodSpec{}
		if err := json.Unmarshal(merged, &spec); err != nil {
			//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
			return nil, fmt.Errorf("Failed to create pod. Failed to override pod specs.: %w", err)
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Namespace: ns, Labels: map[string]string{"createdBy": "kanister"}},
		Spec:       spec,
	}
	for k, v := range asMap(args["podLabels"]) {
		pod.Labels[k] = fmt.Sprint(v)
	}
	if a := asMap(args["podAnnotations"]); len(a) > 0 {
		pod.Annotations = map[string]string{}
		for k, v := range a {
			pod.Annotations[k] = fmt.Sprint(v)
		}
	}
	return pod, nil
}

// parsePhaseOutputs reads `###Phase-output###: {"key":K,"value":V}` lines
// (output.go LogAndParse); a line that does not parse fails the phase.
func parsePhaseOutputs(log string) (map[string]any, error) {
	out := map[string]any{}
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, "###Phase-output###:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if rest == "" {
			continue
		}
		var kv struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal([]byte(rest), &kv); err != nil {
			//lint:ignore ST1005 Kanister's own message (pkg/function, pkg/kube), which users see
			return nil, fmt.Errorf("Failed to unmarshal key-value pair: %w", err)
		}
		out[kv.Key] = kv.Value
	}
	return out, nil
}

// logTail is the last n lines of log (kube.NewLogTail in the error).
func logTail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
