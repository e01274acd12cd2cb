package preflight

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlstate/mlstate/pkg/kanister"
)

type clients struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

const adviceKubeconfig = "check --kubeconfig (or the pod's ServiceAccount token) and that the API server is reachable from this pod"

// checkAPI asks the API server for its version; it also builds the clients
// the other cluster checks use.
func checkAPI(ctx context.Context, r *runner) []Check {
	const id, name = "api", "API server"
	if r.opts.Cluster == nil {
		err := r.opts.ClusterErr
		if err == nil {
			err = errors.New("no cluster configured")
		}
		return []Check{broken(id, name, adviceKubeconfig, "%v", err)}
	}
	cfg := *r.opts.Cluster
	cfg.Timeout = r.opts.Timeout // per request; discovery has no ctx
	kube, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "client: %v", err)}
	}
	dyn, err := dynamic.NewForConfig(&cfg)
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "client: %v", err)}
	}
	var v string
	done := make(chan error, 1)
	go func() {
		info, err := kube.Discovery().ServerVersion()
		if err == nil {
			v = info.GitVersion
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "%s does not answer: %v", cfg.Host, err)}
	}
	r.kube = &clients{kube: kube, dyn: dyn}
	return []Check{ok(id, name, "%s answers (Kubernetes %s)", cfg.Host, v)}
}

// checkCRDs uses discovery (allowed to every authenticated user) rather
// than reading CustomResourceDefinitions, which needs a cluster-wide grant.
func checkCRDs(ctx context.Context, r *runner) []Check {
	const id, name = "crds", "Kanister CRDs"
	const advice = "install Kanister (helm install kanister kanister/kanister-operator -n kanister --create-namespace), which creates the cr.kanister.io CRDs"
	groups, err := r.kube.kube.Discovery().ServerGroups()
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "list API groups: %v", err)}
	}
	var versions []string
	for _, g := range groups.Groups {
		if g.Name == kanister.Group {
			for _, v := range g.Versions {
				versions = append(versions, v.Version)
			}
		}
	}
	if len(versions) == 0 {
		return []Check{broken(id, name, advice, "API group %s is not served: Kanister is not installed", kanister.Group)}
	}
	gv := kanister.Group + "/" + kanister.Version
	res, err := r.kube.kube.Discovery().ServerResourcesForGroupVersion(gv)
	if apierrors.IsNotFound(err) {
		return []Check{broken(id, name, "install a Kanister release that serves "+gv+"; mlstate speaks only that version",
			"%s serves versions %s, not %s", kanister.Group, strings.Join(versions, ", "), kanister.Version)}
	}
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "list %s resources: %v", gv, err)}
	}
	served := map[string]bool{}
	for _, a := range res.APIResources {
		served[a.Name] = true
	}
	var missing []string
	for _, want := range []string{"actionsets", "blueprints", "profiles"} {
		if !served[want] {
			missing = append(missing, want+"."+kanister.Group)
		}
	}
	if len(missing) > 0 {
		return []Check{broken(id, name, advice+"; or apply the missing CRDs from the Kanister release you run",
			"%s serves no %s", gv, strings.Join(missing, ", "))}
	}
	return []Check{ok(id, name, "actionsets, blueprints, profiles served at %s (served versions: %s)", gv, strings.Join(versions, ", "))}
}

// checkController finds the controller's Deployment in the Kanister
// namespace and requires at least one ready replica. It goes by the
// Deployment's status (readyReplicas), which the Deployment controller
// keeps from the pods' readiness.
func checkController(ctx context.Context, r *runner) []Check {
	const id, name = "controller", "Kanister controller"
	ns := r.opts.Namespace
	list, err := kanister.FindControllers(ctx, r.kube.kube, ns, r.opts.ControllerSelector)
	if apierrors.IsForbidden(err) {
		return []Check{notAllowed(id, name, "list deployments in namespace "+ns)}
	}
	if err != nil {
		return []Check{broken(id, name, adviceKubeconfig, "list deployments in %s: %v", ns, err)}
	}
	if len(list) == 0 {
		rule := "label " + strings.Join(kanister.ControllerLabels, " or ") + ", or an image containing " + strings.Join(kanister.ControllerImages, " or ")
		if r.opts.ControllerSelector != "" {
			rule = "selector " + r.opts.ControllerSelector
		}
		return []Check{broken(id, name,
			fmt.Sprintf("install Kanister in namespace %s, or point --kanister-namespace at the namespace it runs in (or name its Deployment with --controller-selector)", ns),
			"no Deployment in namespace %s looks like Kanister's controller (%s)", ns, rule)}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Status.ReadyReplicas > list[j].Status.ReadyReplicas })
	d := list[0]
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	desc := fmt.Sprintf("deployment %s/%s: %d/%d replicas ready (recognised by %s)", ns, d.Name, d.Status.ReadyReplicas, want, d.How)
	if d.Status.ReadyReplicas < 1 {
		return []Check{broken(id, name,
			fmt.Sprintf("ActionSets would stay without status; see kubectl -n %s describe deployment %s and kubectl -n %s logs deployment/%s", ns, d.Name, ns, d.Name),
			"%s", desc)}
	}
	return []Check{ok(id, name, "%s", desc)}
}

// notAllowed is the line for a check the identity may not perform; the
// permissions line says whether that matters and gives the rule.
func notAllowed(id, name, what string) Check {
	return warn(id, name, "grant it (see the Permissions line) to have this checked", "not checked: this identity may not %s", what)
}
