package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// storeOption is the ActionSet option a Blueprint reads to run the stage
// image against the step's store (mlstate-stage does).
const storeOption = "mlstateStore"

// checkStagePods checks what a Blueprint that runs the stage image in
// Kanister's pods needs beyond the Blueprint itself: a store those pods can
// reach (not a file:// path of this pod) and the store Secret in each
// object's namespace, which the pods read through the kubelet. Blueprints
// that do not read the store option get no line.
func checkStagePods(ctx context.Context, r *runner) []Check {
	const id, name = "stage-pods", "Store for Kanister's pods"
	if r.opts.Blueprint == "" {
		return nil
	}
	u, err := r.blueprintObject(ctx)
	if err != nil {
		return nil // the Blueprint line reports it
	}
	raw, err := json.Marshal(u.Object["actions"])
	if err != nil || !strings.Contains(string(raw), storeOption) {
		return nil
	}
	if strings.HasPrefix(r.opts.StoreURL, "file://") {
		return []Check{broken(id, name,
			"use an s3:// store (MinIO or S3) that the PVCs' namespaces can reach, or a Blueprint that does not run the stage image",
			"blueprint %s runs the stage image in Kanister's pods, which cannot see this pod's file:// store %s", r.opts.Blueprint, r.opts.StoreURL)}
	}
	secret := r.opts.StoreSecret
	if secret == "" {
		secret = "mlstate-store"
	}
	namespaces := map[string]bool{}
	for _, o := range r.opts.Objects {
		if o.Err == nil && o.Ref.Namespace != "" {
			namespaces[o.Ref.Namespace] = true
		}
	}
	list := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		list = append(list, ns)
	}
	sort.Strings(list)
	var out []Check
	for _, ns := range list {
		create := fmt.Sprintf("kubectl -n %s create secret generic %s --from-literal=aws_access_key_id=... --from-literal=aws_secret_access_key=...", ns, secret)
		sec, err := r.kube.kube.CoreV1().Secrets(ns).Get(ctx, secret, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, broken(id, name, "create it: "+create,
				"secret %s/%s not found: blueprint %s's pods in namespace %s read the store credentials from it", ns, secret, r.opts.Blueprint, ns))
		case apierrors.IsForbidden(err):
			out = append(out, warn(id, name, fmt.Sprintf("check by hand: kubectl -n %s get secret %s (or create it: %s)", ns, secret, create),
				"not checked: this identity may not get secret %s/%s, which blueprint %s's pods read the store credentials from", ns, secret, r.opts.Blueprint))
		case err != nil:
			out = append(out, broken(id, name, adviceKubeconfig, "get secret %s/%s: %v", ns, secret, err))
		default:
			var missing []string
			for _, k := range []string{"aws_access_key_id", "aws_secret_access_key"} {
				if len(sec.Data[k]) == 0 {
					missing = append(missing, k)
				}
			}
			if len(missing) > 0 {
				out = append(out, broken(id, name, "add the keys: "+create,
					"secret %s/%s lacks %s, which blueprint %s's pods need", ns, secret, strings.Join(missing, " and "), r.opts.Blueprint))
				continue
			}
			out = append(out, ok(id, name, "secret %s/%s holds the store credentials for blueprint %s's pods", ns, secret, r.opts.Blueprint))
		}
	}
	return out
}
