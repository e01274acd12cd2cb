package kanister

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

// DefaultNamespace is where Kanister's controller usually runs.
const DefaultNamespace = "kanister"

// Client creates ActionSets and waits for them. The zero value of every
// optional field means its documented default.
type Client struct {
	Dynamic dynamic.Interface
	// Kube reads the ActionSet's Events on failure; nil skips them.
	Kube kubernetes.Interface
	// Namespace is the Kanister controller's namespace, where ActionSets and
	// Blueprints live (contract §1). Default "kanister".
	Namespace string
	// Logger receives progress and adoption messages. Default: discard.
	Logger *slog.Logger
	// Timeouts bound the wait; zero fields take the defaults.
	Timeouts Timeouts
	// ControllerSelector is the label selector of the Kanister controller's
	// Deployment; "" means the built-in rules (see IsController).
	ControllerSelector string
	// ProgressFile receives "N/M" (completed/total phases) on every change,
	// for Argo's progress reporting. Default: $ARGO_PROGRESS_FILE, if set;
	// "-" writes none (e.g. when the caller reports combined progress).
	ProgressFile string
}

// InNamespace returns a copy of c that works in the Kanister namespace ns
// (a restore point's recorded one, say).
func (c *Client) InNamespace(ns string) *Client {
	cp := *c
	cp.Namespace = ns
	return &cp
}

// Timeouts are Run's own deadlines; Kanister has none (contract §5.2).
//
// A running ActionSet gets no deadline of its own: Kanister writes phase
// progress only when a percentage changes and most data functions report
// just 0 and 100 (pkg/progress/action.go), so a long backup is quiet for as
// long as it runs. What does make a running ActionSet hopeless is a
// controller restart, since Kanister keeps its work in memory and never
// resumes an ActionSet that was running (pkg/controller/controller.go,
// handleActionSet starts only pending ones). Run looks for that evidence
// instead: the controller's pods, compared with when the ActionSet started
// running.
type Timeouts struct {
	// NoStatus: no status at all after this long means the controller is not
	// running in the namespace or rejected the spec. Default 30s.
	NoStatus time.Duration
	// Pending: longest time in pending. Default 2m.
	Pending time.Duration
	// RestartCheck: how often, while the ActionSet runs, the controller's
	// pods are read for evidence of a restart. Default 5s.
	RestartCheck time.Duration
	// ClockSkew is allowed between this process's clock and the nodes'
	// (pod start times come from the kubelet). Default 2s.
	ClockSkew time.Duration
	// Settle: after complete or failed, how long to wait for every action
	// of the ActionSet to stop (render its artifacts, end its deferPhase or
	// its running phase; see settle.go). Default 2m.
	Settle time.Duration
	// Overall bounds the whole wait. Default 0: none. It is the only bound
	// on a running ActionSet when the controller's pods cannot be read.
	Overall time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.NoStatus <= 0 {
		t.NoStatus = 30 * time.Second
	}
	if t.Pending <= 0 {
		t.Pending = 2 * time.Minute
	}
	if t.RestartCheck <= 0 {
		t.RestartCheck = 5 * time.Second
	}
	if t.Settle <= 0 {
		t.Settle = 2 * time.Minute
	}
	if t.ClockSkew <= 0 {
		t.ClockSkew = 2 * time.Second
	}
	return t
}

// Request is one ActionSet to create.
type Request struct {
	// Name is the ActionSet name (see Name). Empty: GenerateName is used.
	Name string
	// GenerateName is the name prefix when Name is empty. Default "mlstate-".
	GenerateName string
	// Labels are set at creation. LabelPipeline is required; LabelJobID
	// defaults to the name (or a random ID with GenerateName); LabelAction
	// defaults to the action name when all actions share it.
	Labels  map[string]string
	Actions []ActionSpec
	// NewRun marks the first attempt of an Argo node in this run of the
	// workflow ({{retries}} is 0). `argo retry` re-runs a node under the
	// same workflow UID and node name, so the ActionSets under Name were
	// left by an earlier run: they are never adopted (a complete restore of
	// the first run must not stand in for the second), and the next free
	// name of the chain is created. Without NewRun (a retryStrategy attempt,
	// or an unknown attempt) the newest ActionSet of the chain is adopted
	// unless it failed.
	NewRun bool
}

func (c *Client) namespace() string {
	if c.Namespace == "" {
		return DefaultNamespace
	}
	return c.Namespace
}

func (c *Client) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Logger
}

// Run creates the ActionSet (or adopts the one a previous attempt created
// under the same name; after a failed one, the next of the chain NAME-2,
// NAME-3, ...) and waits until it is complete or failed. onProgress,
// if not nil, is called on every change of state, running phase or
// percentage. A failed ActionSet returns an *ActionSetError.
func (c *Client) Run(ctx context.Context, req Request, onProgress func(Progress)) (*Result, error) {
	obj, err := c.buildObject(req)
	if err != nil {
		return nil, err
	}
	if err := c.checkTargets(ctx, req.Actions); err != nil {
		return nil, err
	}
	got, err := c.createOrAdopt(ctx, obj, req.NewRun)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, got, onProgress)
}

func (c *Client) buildObject(req Request) (*unstructured.Unstructured, error) {
	if len(req.Actions) == 0 {
		return nil, usagef("ActionSet: no actions given")
	}
	for i, a := range req.Actions {
		if a.Name == "" || a.Blueprint == "" {
			return nil, usagef("ActionSet action %d: the action name and the blueprint are both required", i)
		}
		if a.Object.Name == "" || (a.Object.Kind == "" && (a.Object.APIVersion == "" || a.Object.Resource == "")) {
			return nil, usagef("ActionSet action %s: the object needs a name and a kind (or apiVersion and resource)", a.Name)
		}
	}
	labels := make(map[string]string, len(req.Labels)+1)
	for k, v := range req.Labels {
		labels[k] = v
	}
	if labels[LabelPipeline] == "" {
		return nil, usagef("ActionSet: label %s is required (the pipeline name)", LabelPipeline)
	}
	if labels[LabelAction] == "" && sameActionName(req.Actions) {
		labels[LabelAction] = sanitize(req.Actions[0].Name, 63)
	}
	if labels[LabelJobID] == "" {
		labels[LabelJobID] = req.Name
		if req.Name == "" {
			labels[LabelJobID] = "manual-" + randomHex(5)
		}
	}
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, usagef("ActionSet label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, usagef("ActionSet label %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	actions, err := toJSONValue(req.Actions)
	if err != nil {
		return nil, fmt.Errorf("encode ActionSet actions: %w", err)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       "ActionSet",
		"spec":       map[string]any{"actions": actions},
	}}
	obj.SetNamespace(c.namespace())
	if req.Name != "" {
		obj.SetName(req.Name)
	} else {
		gen := req.GenerateName
		if gen == "" {
			gen = namePrefix
		}
		obj.SetGenerateName(gen)
	}
	obj.SetLabels(labels)
	return obj, nil
}

// maxAttempts bounds the ActionSets one deterministic name can chain to.
const maxAttempts = 9

// createOrAdopt creates obj with strict field validation, so that a field
// the CRD does not know is refused instead of silently pruned (§7). A
// deterministic name is the head of a chain NAME, NAME-2, NAME-3, ...:
// Kanister never re-runs a failed ActionSet (§5.2), so a retry after a
// failed one creates the next name. Unless newRun is set, the newest
// ActionSet of the chain is adopted when it carries the same labels and
// spec and has not failed; with newRun (the first attempt of a node after
// `argo retry`) none is adopted. An ActionSet of the chain with other
// labels or spec is a Conflict.
func (c *Client) createOrAdopt(ctx context.Context, obj *unstructured.Unstructured, newRun bool) (*unstructured.Unstructured, error) {
	base := obj.GetName()
	if base == "" {
		return c.createOrAdoptOne(ctx, obj)
	}
	ns := c.namespace()
	ri := c.Dynamic.Resource(ActionSetGVR).Namespace(ns)
	var newest *unstructured.Unstructured
	n := 0
	for ; n < maxAttempts; n++ {
		want := chainLink(obj, base, n+1)
		got, err := ri.Get(ctx, want.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			return nil, classify(err, "get", "actionsets."+Group, ns, want.GetName())
		}
		if why := sameOwner(want, got); why != "" {
			return nil, exitcode.With(exitcode.Conflict, fmt.Errorf(
				"ActionSet %s/%s exists but was not created by this step (%s); delete it or rerun with another workflow/node", ns, got.GetName(), why))
		}
		newest = got
	}
	switch {
	case newest != nil && !newRun && stateOf(newest) != StateFailed:
		c.log().Info("adopting ActionSet created by an earlier attempt", "namespace", ns, "actionset", newest.GetName(),
			"state", stateOf(newest))
		return newest, nil
	case newest != nil && newRun:
		c.log().Info("not adopting the ActionSet of an earlier run of this node (argo retry); creating the next",
			"namespace", ns, "earlier", newest.GetName(), "state", stateOf(newest))
	case newest != nil:
		c.log().Info("the ActionSet of an earlier attempt failed and Kanister never re-runs one; creating the next",
			"namespace", ns, "failed", newest.GetName())
	}
	if n == maxAttempts {
		return nil, exitcode.With(exitcode.Conflict, fmt.Errorf(
			"ActionSets %s/%s to %s-%d all exist: this node was retried too often; delete them and retry",
			ns, base, base, maxAttempts))
	}
	return c.createOrAdoptOne(ctx, chainLink(obj, base, n+1))
}

// chainLink returns obj named as link n of the chain (n=1 is the base name),
// with the JobID label following the name.
func chainLink(obj *unstructured.Unstructured, base string, n int) *unstructured.Unstructured {
	if n == 1 {
		return obj
	}
	link := obj.DeepCopy()
	link.SetName(fmt.Sprintf("%s-%d", base, n))
	if l := link.GetLabels(); l[LabelJobID] == base {
		l[LabelJobID] = link.GetName()
		link.SetLabels(l)
	}
	return link
}

func (c *Client) createOrAdoptOne(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ns := c.namespace()
	ri := c.Dynamic.Resource(ActionSetGVR).Namespace(ns)
	got, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
	if err == nil {
		c.log().Info("created ActionSet", "namespace", ns, "actionset", got.GetName())
		return got, nil
	}
	if !apierrors.IsAlreadyExists(err) || obj.GetName() == "" {
		return nil, classify(err, "create", "actionsets."+Group, ns, obj.GetName())
	}
	got, err = ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, classify(err, "get", "actionsets."+Group, ns, obj.GetName())
	}
	if why := sameOwner(obj, got); why != "" {
		return nil, exitcode.With(exitcode.Conflict, fmt.Errorf(
			"ActionSet %s/%s exists but was not created by this step (%s); delete it or rerun with another workflow/node", ns, got.GetName(), why))
	}
	c.log().Info("adopting ActionSet created by an earlier attempt", "namespace", ns, "actionset", got.GetName(),
		"state", stateOf(got))
	return got, nil
}

// sameOwner explains why existing differs from want, or returns "".
func sameOwner(want, existing *unstructured.Unstructured) string {
	have := existing.GetLabels()
	for k, v := range want.GetLabels() {
		if have[k] != v {
			return fmt.Sprintf("label %s is %q, want %q", k, have[k], v)
		}
	}
	var a, b []ActionSpec
	wantActions, _, _ := unstructured.NestedSlice(want.Object, "spec", "actions")
	haveActions, _, _ := unstructured.NestedSlice(existing.Object, "spec", "actions")
	if fromJSONValue(wantActions, &a) != nil || fromJSONValue(haveActions, &b) != nil || !reflect.DeepEqual(a, b) {
		return "its spec differs"
	}
	return ""
}

// toJSONValue converts v into the map/slice form of unstructured content.
func toJSONValue(v any) ([]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out []any
	return out, json.Unmarshal(b, &out)
}

func fromJSONValue(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func sameActionName(actions []ActionSpec) bool {
	for _, a := range actions {
		if a.Name != actions[0].Name {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
