package preflight

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// DefaultTimeout bounds each check when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options say what to check. Zero values are documented per field; a
// check whose input is absent reports ok with "not used".
type Options struct {
	// Cluster is the API server's client config. Nil with ClusterErr set
	// reports that error on the API server line; nil without it means no
	// Kanister targets were given and the cluster is not checked.
	Cluster    *rest.Config
	ClusterErr error
	// Namespace is the Kanister controller's namespace, where the Blueprint
	// and the ActionSets live. Empty means kanister.DefaultNamespace.
	Namespace string
	// ControllerSelector, when set, is the label selector that identifies
	// the Kanister controller's Deployment; empty means the built-in rules
	// (see checkController).
	ControllerSelector string
	// Blueprint names the Blueprint; Action is the backup action ("backup"
	// when empty), RestoreAction and DeleteAction the actions restore and
	// catalog pruning run ("restore" and "delete" when empty).
	Blueprint                           string
	Action, RestoreAction, DeleteAction string
	// Profile is the Kanister Profile (nil: none given).
	Profile *kanister.ObjectRef
	// Objects are the Kanister targets as given on the command line.
	Objects []Object
	// Secrets are the Secrets the Blueprint reads (.Secrets.REF), by REF.
	Secrets map[string]kanister.ObjectRef
	// StoreSecret is the Secret, in each object's namespace, from which a
	// Blueprint that runs the stage image reads the store credentials
	// (empty: mlstate-store).
	StoreSecret string
	// StoreURL is the mlstate store; StoreOptions are passed to
	// storeurl.Open (zero: the process environment).
	StoreURL     string
	StoreOptions storeurl.Options
	// Pipeline names the pipeline whose latest restore point is verified.
	Pipeline string
	// Stage are the directories the snapshot will stage (absolute paths).
	Stage []string
	// Timeout bounds each check; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives debug detail; nil discards it.
	Logger *slog.Logger
}

// Object is one --object argument, parsed or not: preflight reports a
// value the parser refused as a broken line instead of stopping.
type Object struct {
	Arg string
	Ref kanister.ObjectRef
	Err error // from kanister.ParseObject
}

// ParseObjects parses every argument with kanister.ParseObject, keeping
// the failures.
func ParseObjects(args []string) []Object {
	out := make([]Object, 0, len(args))
	for _, a := range args {
		ref, err := kanister.ParseObject(a)
		out = append(out, Object{Arg: a, Ref: ref, Err: err})
	}
	return out
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = kanister.DefaultNamespace
	}
	if o.Action == "" {
		o.Action = "backup"
	}
	if o.RestoreAction == "" {
		o.RestoreAction = "restore"
	}
	if o.DeleteAction == "" {
		o.DeleteAction = "delete"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// usesKanister reports whether the snapshot will drive Kanister at all.
func (o Options) usesKanister() bool { return len(o.Objects) > 0 || o.Blueprint != "" }

// checkFunc is one check; it may yield several lines (one per object,
// Secret or staged directory).
type checkFunc func(ctx context.Context, r *runner) []Check

// Run performs every check and returns the checklist. Each check runs under
// its own timeout and they run concurrently, except that the cluster checks
// wait for the API server line and are skipped when it is broken. Run
// itself never fails: every problem is a line. A cancelled ctx shows as
// broken lines; callers test ctx.Err() afterwards.
func Run(ctx context.Context, opts Options) Checklist {
	opts = opts.withDefaults()
	r := &runner{opts: opts, log: opts.Logger}
	var list Checklist
	clusterOK := false
	if opts.usesKanister() {
		api := r.bounded(ctx, checkAPI)
		list = append(list, api...)
		clusterOK = Checklist(api).Worst() != Broken
	} else {
		list = append(list, ok("api", "API server", "not used: no Kanister targets (--object, --blueprint)"))
	}
	var checks []checkFunc
	if clusterOK {
		// Permissions go first and alone: that check waits a moment for a
		// grant made just before preflight ran, and the checks that read
		// as this identity then see the same grant instead of racing it.
		perms := r.bounded(ctx, checkPermissions)
		checks = append(checks, checkCRDs, checkController, checkBlueprint, checkSecrets, checkStagePods,
			checkProfile, checkObjects, func(context.Context, *runner) []Check { return perms }, checkControllerSecrets)
	} else if opts.usesKanister() {
		list = append(list, warn("kanister", "Kanister checks", "fix the API server line first",
			"not checked: the API server is not usable"))
		checks = append(checks, checkObjects)
	}
	checks = append(checks, checkStore, checkStage)
	results := make([][]Check, len(checks))
	var wg sync.WaitGroup
	for i, f := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.bounded(ctx, f)
		}()
	}
	wg.Wait()
	for _, res := range results {
		list = append(list, res...)
	}
	return list
}

// runner holds what the checks share: options and, once the API server
// answered, the clients.
type runner struct {
	opts Options
	log  *slog.Logger
	kube *clients

	// The Blueprint, read once for the lines that look at it.
	bpMu   sync.Mutex
	bpDone bool
	bp     *unstructured.Unstructured
	bpErr  error
}

// blueprintObject returns the Blueprint named by the options, from the API
// server on first use. Checks run concurrently: the others wait for the
// first read instead of repeating it.
func (r *runner) blueprintObject(ctx context.Context) (*unstructured.Unstructured, error) {
	r.bpMu.Lock()
	defer r.bpMu.Unlock()
	if !r.bpDone {
		r.bp, r.bpErr = r.kube.dyn.Resource(kanister.BlueprintGVR).Namespace(r.opts.Namespace).Get(ctx, r.opts.Blueprint, metav1.GetOptions{})
		r.bpDone = true
	}
	return r.bp, r.bpErr
}

func (r *runner) bounded(ctx context.Context, f checkFunc) []Check {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	return f(ctx, r)
}

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
