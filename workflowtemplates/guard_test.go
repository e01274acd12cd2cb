package workflowtemplates

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// guard runs real training: resources and GPUs, node placement, extra
// volumes, a memory-backed /dev/shm, the user's UID, a writable root if
// asked, and a grace period long enough to restore after `argo stop`, all
// from the arguments of a templateRef call.
func TestGuardRunsRealTraining(t *testing.T) {
	base := map[string]string{"store": "s3://b", "pipeline": "p", "image": "train:1", "command": "python train.py", "workspace-pvc": "ws"}
	def := render(t, "guard", renderCtx{args: base})
	if g := def.pod.TerminationGracePeriodSeconds; g == nil || *g < 300 {
		t.Errorf("default grace period %v: too short to restore after argo stop (Kubernetes' default is 30 s)", g)
	}
	if !hasMount(def.main(), "/dev/shm") || volume(def.pod, "dshm") == nil || volume(def.pod, "dshm").EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("no memory-backed /dev/shm by default: %+v", def.pod.Volumes)
	}
	if ro := def.main().SecurityContext.ReadOnlyRootFilesystem; ro == nil || *ro {
		t.Errorf("the user's image gets a read-only root by default (%v); it must be opt-in", ro)
	}

	args := map[string]string{
		"resources":                        `{"requests": {"cpu": "8", "memory": "64Gi"}, "limits": {"memory": "64Gi", "nvidia.com/gpu": 2}}`,
		"node-selector":                    `{"nvidia.com/gpu.product": "A100"}`,
		"tolerations":                      `[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]`,
		"volumes":                          `[{"name": "data", "persistentVolumeClaim": {"claimName": "imagenet", "readOnly": true}}]`,
		"volume-mounts":                    `[{"name": "data", "mountPath": "/data", "readOnly": true}]`,
		"shm-size":                         "16Gi",
		"run-as-user":                      "1000",
		"read-only-root-filesystem":        "true",
		"termination-grace-period-seconds": "1800",
	}
	for k, v := range base {
		args[k] = v
	}
	r := render(t, "guard", renderCtx{args: args})
	main := r.main()
	if got := main.Resources.Limits["nvidia.com/gpu"]; got.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("GPU limit %v, want 2", got.String())
	}
	if got := main.Resources.Requests[corev1.ResourceMemory]; got.Cmp(resource.MustParse("64Gi")) != 0 {
		t.Errorf("memory request %v, want 64Gi", got.String())
	}
	if r.pod.NodeSelector["nvidia.com/gpu.product"] != "A100" {
		t.Errorf("nodeSelector %v", r.pod.NodeSelector)
	}
	if len(r.pod.Tolerations) != 1 || r.pod.Tolerations[0].Key != "nvidia.com/gpu" {
		t.Errorf("tolerations %+v", r.pod.Tolerations)
	}
	if v := volume(r.pod, "data"); v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "imagenet" || !hasMount(main, "/data") {
		t.Errorf("extra volume not mounted: volumes %+v mounts %+v", r.pod.Volumes, main.VolumeMounts)
	}
	for _, keep := range []string{"/workspace", "/tmp", "/mlstate/bin", "/dev/shm"} {
		if !hasMount(main, keep) {
			t.Errorf("the extra mounts replaced the template's own %s: %+v", keep, main.VolumeMounts)
		}
	}
	if l := volume(r.pod, "dshm").EmptyDir.SizeLimit; l == nil || l.Cmp(resource.MustParse("16Gi")) != 0 {
		t.Errorf("/dev/shm size %v, want 16Gi", l)
	}
	if g := r.pod.TerminationGracePeriodSeconds; g == nil || *g != 1800 {
		t.Errorf("grace period %v, want 1800", g)
	}
	if ro := main.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
		t.Errorf("read-only-root-filesystem=true not applied")
	}
	if p := main.SecurityContext.AllowPrivilegeEscalation; p == nil || *p {
		t.Errorf("allowPrivilegeEscalation must stay false")
	}
	checkOwner(t, "guard", r.pod.SecurityContext, 1000, 65532, 65532)
}
