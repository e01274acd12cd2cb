package workflowtemplates

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The templates that write into the user's volumes set fsGroupChangePolicy
// OnRootMismatch (without it the kubelet chowns a whole dataset PVC on
// every mount) and run as a settable user and group, so restored or pulled
// files belong to the UID the training image runs as.
func TestVolumeOwnership(t *testing.T) {
	writers := map[string]map[string]string{
		"stage-push": {"store": "s3://b", "pvc": "data"},
		"stage-pull": {"store": "s3://b", "pvc": "data", "tree": "t-1"},
		"restore":    {"store": "s3://b", "pipeline": "p", "workspace-pvc": "data"},
		"guard":      {"store": "s3://b", "pipeline": "p", "image": "train:1", "command": "python train.py", "workspace-pvc": "data"},
	}
	for name, args := range writers {
		def := render(t, name, renderCtx{args: args})
		checkOwner(t, name+" (defaults)", def.pod.SecurityContext, 65532, 65532, 65532)

		custom := map[string]string{"run-as-user": "1000", "run-as-group": "100", "fs-group": "2000"}
		for k, v := range args {
			custom[k] = v
		}
		r := render(t, name, renderCtx{args: custom})
		checkOwner(t, name+" (run-as-user=1000)", r.pod.SecurityContext, 1000, 100, 2000)
		if !hasVolume(r.pod, "tmp") {
			t.Errorf("%s: the patch dropped the template's own volumes: %+v", name, r.pod.Volumes)
		}
	}
}

func checkOwner(t *testing.T, what string, sc *corev1.PodSecurityContext, uid, gid, fsGroup int64) {
	t.Helper()
	if sc == nil {
		t.Errorf("%s: no pod securityContext", what)
		return
	}
	if sc.FSGroupChangePolicy == nil || *sc.FSGroupChangePolicy != corev1.FSGroupChangeOnRootMismatch {
		t.Errorf("%s: fsGroupChangePolicy %v, want OnRootMismatch", what, sc.FSGroupChangePolicy)
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: runAsNonRoot must stay true", what)
	}
	for _, f := range []struct {
		name string
		got  *int64
		want int64
	}{{"runAsUser", sc.RunAsUser, uid}, {"runAsGroup", sc.RunAsGroup, gid}, {"fsGroup", sc.FSGroup, fsGroup}} {
		if f.got == nil || *f.got != f.want {
			t.Errorf("%s: %s = %v, want %d", what, f.name, f.got, f.want)
		}
	}
}
