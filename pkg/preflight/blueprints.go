package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/blueprint"
)

// maxProblems caps how many Blueprint problems one line lists.
const maxProblems = 3

// checkBlueprint reads the Blueprint from the Kanister namespace (the
// controller looks it up there, contract §1) and runs pkg/blueprint's
// static checks: the backup, restore and delete actions exist, functions
// are known with their required args, phase names are unique, restore and
// delete read only artifacts the backup produces, and no restic phase is
// left on Kanister's built-in default encryption key (§6).
func checkBlueprint(ctx context.Context, r *runner) []Check {
	const id, name = "blueprint", "Blueprint"
	ns, bpName := r.opts.Namespace, r.opts.Blueprint
	if bpName == "" {
		return []Check{broken(id, name, "pass --blueprint NAME (a Blueprint in --kanister-namespace)", "--object given without --blueprint")}
	}
	u, err := r.blueprintObject(ctx)
	switch {
	case apierrors.IsNotFound(err):
		return []Check{broken(id, name,
			fmt.Sprintf("apply it there: kubectl apply -n %s -f BLUEPRINT.yaml (Kanister reads Blueprints only from its own namespace)", ns),
			"blueprint %s/%s not found", ns, bpName)}
	case apierrors.IsForbidden(err):
		return []Check{notAllowed(id, name, fmt.Sprintf("get blueprints in namespace %s", ns))}
	case err != nil:
		return []Check{broken(id, name, adviceKubeconfig, "get blueprint %s/%s: %v", ns, bpName, err)}
	}
	bp, err := blueprint.FromUnstructured(u.Object)
	if err != nil {
		return []Check{broken(id, name, "re-apply the Blueprint from its source", "blueprint %s/%s: %v", ns, bpName, err)}
	}
	problems := blueprint.Check(bp, blueprint.CheckOptions{
		BackupAction: r.opts.Action, RestoreAction: r.opts.RestoreAction, DeleteAction: r.opts.DeleteAction,
	})
	if len(problems) > 0 {
		var texts []string
		for i, p := range problems {
			if i == maxProblems {
				texts = append(texts, fmt.Sprintf("and %d more", len(problems)-maxProblems))
				break
			}
			texts = append(texts, p.String())
		}
		return []Check{broken(id, name,
			fmt.Sprintf("fix the Blueprint and re-apply it (kubectl apply -n %s -f ...); restore points taken with it could not be restored", ns),
			"blueprint %s/%s: %s", ns, bpName, strings.Join(texts, "; "))}
	}
	return []Check{ok(id, name, "blueprint %s/%s has actions %s, %s and %s and passes the static checks (functions, args, phases, artifacts, own encryption key)",
		ns, bpName, r.opts.Action, r.opts.RestoreAction, r.opts.DeleteAction)}
}

// checkSecrets checks that every --secret the Blueprint reads exists (the
// mlstate Blueprints read their restic key this way). Their content is not
// read beyond the key names.
func checkSecrets(ctx context.Context, r *runner) []Check {
	refs := make([]string, 0, len(r.opts.Secrets))
	for ref := range r.opts.Secrets {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	var out []Check
	for _, ref := range refs {
		s := r.opts.Secrets[ref]
		name := "Secret " + ref
		sec, err := r.kube.kube.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, broken("secret", name,
				fmt.Sprintf("create it: kubectl -n %s create secret generic %s --from-literal=key=...", s.Namespace, s.Name),
				"secret %s/%s (read by the Blueprint as .Secrets.%s) not found", s.Namespace, s.Name, ref))
		case apierrors.IsForbidden(err):
			out = append(out, notAllowed("secret", name, fmt.Sprintf("get secret %s/%s", s.Namespace, s.Name)))
		case err != nil:
			out = append(out, broken("secret", name, adviceKubeconfig, "get secret %s/%s: %v", s.Namespace, s.Name, err))
		default:
			keys := make([]string, 0, len(sec.Data))
			for k := range sec.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out = append(out, ok("secret", name, "secret %s/%s exists (keys: %s)", s.Namespace, s.Name, strings.Join(keys, ", ")))
		}
	}
	return out
}
