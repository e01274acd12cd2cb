// Package stepflags holds the flags several steps share (the cluster, the
// Argo run, the Kanister targets) and turns them into library options, so
// snapshot, restore, guard and preflight read them identically.
package stepflags

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/kubeconfig"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/snapshot"
)

func env(name string) []string { return []string{"MLSTATE_" + name} }

// Cluster flags: how to reach the API server and Kanister.
func Cluster() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "kubeconfig file (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)", EnvVars: []string{"MLSTATE_KUBECONFIG", "KUBECONFIG"}},
		&cli.StringFlag{Name: "kanister-namespace", Value: kanister.DefaultNamespace, Usage: "namespace of the Kanister controller, its Blueprints and the ActionSets", EnvVars: env("KANISTER_NAMESPACE")},
		&cli.DurationFlag{Name: "no-status-timeout", Value: 30 * time.Second, Usage: "fail when an ActionSet has no status after this long (controller down, or spec invalid)", EnvVars: env("NO_STATUS_TIMEOUT")},
		&cli.DurationFlag{Name: "pending-timeout", Value: 2 * time.Minute, Usage: "fail when an ActionSet stays pending this long", EnvVars: env("PENDING_TIMEOUT")},
		// Kanister's phases are quiet for as long as they run, so no silence
		// means a stall; a controller restart is detected from its pods.
		&cli.DurationFlag{Name: "stall-timeout", Hidden: true, Usage: "ignored (a running ActionSet is watched for a controller restart instead)", EnvVars: env("STALL_TIMEOUT")},
		&cli.DurationFlag{Name: "timeout", Usage: "overall limit for waiting on Kanister (0: none); the only limit on a running ActionSet when the controller's pods cannot be read", EnvVars: env("TIMEOUT")},
		&cli.StringFlag{Name: "controller-selector", Usage: "label selector of the Kanister controller's Deployment (default: label app.kubernetes.io/name=kanister-operator or app=kanister-operator, or a kanisterio/controller image)", EnvVars: env("CONTROLLER_SELECTOR")},
	}
}

// Workflow flags identify the Argo run; a step container does not get them
// from Argo (only ARGO_NODE_ID), so templates pass {{workflow.*}} in.
func Workflow() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "workflow-name", Usage: "Argo workflow name ({{workflow.name}})", EnvVars: env("WORKFLOW_NAME")},
		&cli.StringFlag{Name: "workflow-uid", Usage: "Argo workflow UID ({{workflow.uid}}); with --node-id it makes ActionSet names stable across retries", EnvVars: env("WORKFLOW_UID")},
		&cli.StringFlag{Name: "workflow-namespace", Usage: "Argo workflow namespace ({{workflow.namespace}})", EnvVars: env("WORKFLOW_NAMESPACE")},
		// Argo gives each retryStrategy attempt its own ARGO_NODE_ID, so the
		// templates pass {{node.name}} (the same for every attempt; a
		// trailing "(N)" is ignored) to let a retry adopt its ActionSet.
		&cli.StringFlag{Name: "node-id", Usage: "Argo node identity: {{node.name}} in templates (stable across retries), else ARGO_NODE_ID", EnvVars: []string{"MLSTATE_NODE_ID", "ARGO_NODE_ID"}},
		// `argo retry` re-runs a node under the same workflow UID and node
		// name, with {{retries}} starting at 0 again; a retryStrategy attempt
		// has {{retries}} > 0. Only the latter may adopt an earlier ActionSet.
		&cli.IntFlag{Name: "retry-attempt", Value: -1, Usage: "Argo retryStrategy attempt ({{retries}}): 0 never adopts an ActionSet an earlier run of the node left (argo retry), more adopts the attempt before's; -1: unknown, adopt", EnvVars: env("RETRY_ATTEMPT")},
	}
}

// NewRun reports whether this is the node's first attempt in this run of
// the workflow (--retry-attempt 0).
func NewRun(c *cli.Context) bool { return c.Int("retry-attempt") == 0 }

// Targets flags: what a snapshot backs up.
func Targets() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "object", Usage: "Kanister target KIND/NAMESPACE/NAME, repeatable (kinds: pvc, deployment, statefulset, deploymentconfig, namespace)", EnvVars: env("OBJECTS")},
		&cli.StringFlag{Name: "blueprint", Usage: "Kanister Blueprint (in --kanister-namespace) with the backup, restore and delete actions", EnvVars: env("BLUEPRINT")},
		&cli.StringFlag{Name: "action", Value: "backup", Usage: "Blueprint action to run", EnvVars: env("ACTION")},
		&cli.StringFlag{Name: "profile", Usage: "Kanister Profile NAMESPACE/NAME for data-moving functions", EnvVars: env("PROFILE")},
		&cli.StringSliceFlag{Name: "option", Usage: "Blueprint option KEY=VALUE (.Options.KEY), repeatable", EnvVars: env("OPTIONS")},
		&cli.StringFlag{Name: "store-secret", Value: "mlstate-store", Usage: "Secret with the store's credentials in the backed-up object's namespace, for Blueprints that run the stage image (mlstate-stage); passed as option " + OptionStoreSecret, EnvVars: env("STORE_SECRET")},
		&cli.StringSliceFlag{Name: "secret", Usage: "Secret the Blueprint reads as REF=NAMESPACE/NAME (.Secrets.REF), e.g. the encryption key; repeatable", EnvVars: env("SECRETS")},
		&cli.StringSliceFlag{Name: "stage", Usage: "directory to stage in the store, repeatable", EnvVars: env("STAGE")},
		&cli.BoolFlag{Name: "rehash", Usage: "read every staged file even when size and mtime match the last snapshot", EnvVars: env("REHASH")},
	}
}

// WorkflowOf reads the Workflow flags.
func WorkflowOf(c *cli.Context) restorepoint.Workflow {
	return restorepoint.Workflow{
		Name:      c.String("workflow-name"),
		UID:       c.String("workflow-uid"),
		Namespace: c.String("workflow-namespace"),
		NodeID:    c.String("node-id"),
	}
}

// ActionsOf builds one Kanister action per --object. All input problems are
// reported together, before anything happens.
func ActionsOf(c *cli.Context) ([]kanister.ActionSpec, error) {
	objects := List(c, "object")
	if len(objects) == 0 {
		// A template passes --blueprint (with its default) whether or not the
		// pipeline has Kanister targets; without --object there is nothing
		// for it to act on, so it is not an error.
		return nil, nil
	}
	var problems []string
	if c.String("blueprint") == "" {
		problems = append(problems, "--object needs --blueprint (the Blueprint with the backup action)")
	}
	opts, err := kanister.ParseOptions(List(c, "option"))
	if err != nil {
		problems = append(problems, err.Error())
	}
	opts = withStoreOptions(opts, c.String("store"), c.String("store-secret"))
	secrets, err := parseRefs("--secret", List(c, "secret"))
	if err != nil {
		problems = append(problems, err.Error())
	}
	var profile *kanister.ObjectRef
	if p := c.String("profile"); p != "" {
		ref, err := kanister.ParseProfile(p)
		if err != nil {
			problems = append(problems, err.Error())
		}
		profile = &ref
	}
	var actions []kanister.ActionSpec
	for _, o := range objects {
		ref, err := kanister.ParseObject(o)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		actions = append(actions, kanister.ActionSpec{
			Name: c.String("action"), Blueprint: c.String("blueprint"), Object: ref,
			Profile: profile, Options: opts, Secrets: secrets,
		})
	}
	if len(problems) > 0 {
		return nil, usage("%s", strings.Join(problems, "; "))
	}
	return actions, nil
}

// Options every ActionSet carries, so a Blueprint that runs the stage image
// (mlstate-stage) pushes into the restore point's own store: the store URL
// (never credentials: storeurl refuses them in a URL) and the name of the
// Secret its pod reads them from.
const (
	OptionStore       = "mlstateStore"
	OptionStoreSecret = "mlstateStoreSecret"
)

// withStoreOptions adds the store options unless the user set them with
// --option.
func withStoreOptions(opts map[string]string, storeURL, secret string) map[string]string {
	if storeURL == "" && secret == "" {
		return opts
	}
	if opts == nil {
		opts = map[string]string{}
	}
	for k, v := range map[string]string{OptionStore: storeURL, OptionStoreSecret: secret} {
		if _, set := opts[k]; !set && v != "" {
			opts[k] = v
		}
	}
	return opts
}

// List returns a repeatable flag's values without empty ones. Argo cannot
// leave an argument out conditionally, so a template passes "--object=" for
// a pipeline without Kanister targets; that means "none", not "".
func List(c *cli.Context, name string) []string {
	var out []string
	for _, v := range c.StringSlice(name) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// StagePaths returns the --stage directories as clean absolute paths.
func StagePaths(c *cli.Context) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range List(c, "stage") {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, usage("--stage %s: %v", p, err)
		}
		if seen[abs] {
			return nil, usage("--stage %s given twice", p)
		}
		seen[abs] = true
		out = append(out, abs)
	}
	return out, nil
}

func parseRefs(flag string, list []string) (map[string]kanister.ObjectRef, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]kanister.ObjectRef{}
	for _, s := range list {
		name, ref, ok := strings.Cut(s, "=")
		ns, obj, ok2 := strings.Cut(ref, "/")
		if !ok || !ok2 || name == "" || ns == "" || obj == "" || strings.Contains(obj, "/") {
			return nil, fmt.Errorf("%s %q: want REF=NAMESPACE/NAME", flag, s)
		}
		out[name] = kanister.ObjectRef{Kind: "Secret", APIVersion: "v1", Name: obj, Namespace: ns}
	}
	return out, nil
}

// Kanister connects to the cluster and returns a Kanister client configured
// from the Cluster flags.
func Kanister(c *cli.Context, userAgent string) (*kanister.Client, error) {
	cfg, err := kubeconfig.Load(c.String("kubeconfig"), userAgent)
	if err != nil {
		return nil, err
	}
	kc, err := kanister.NewClient(cfg, c.String("kanister-namespace"))
	if err != nil {
		return nil, err
	}
	kc.Timeouts = kanister.Timeouts{
		NoStatus: c.Duration("no-status-timeout"),
		Pending:  c.Duration("pending-timeout"),
		Overall:  c.Duration("timeout"),
	}
	kc.ControllerSelector = c.String("controller-selector")
	if c.IsSet("stall-timeout") {
		slog.Warn("--stall-timeout is ignored: a quiet phase is not a stall; a controller restart during a running ActionSet is detected from the controller's pods, and --timeout bounds the wait")
	}
	return kc, nil
}

// KanisterNamespaceFor is the namespace to run a recorded restore point's
// actions in: the one it was taken in, unless --kanister-namespace (or its
// variable) was given. The Blueprints and Profile of the backup live there.
func KanisterNamespaceFor(c *cli.Context, recorded string) string {
	if recorded == "" || c.IsSet("kanister-namespace") {
		return c.String("kanister-namespace")
	}
	return recorded
}

func usage(format string, args ...any) error {
	return exitcode.With(exitcode.Usage, fmt.Errorf(format, args...))
}

// SnapshotOptions reads what snapshot and guard share: store, pipeline,
// Kanister targets and staged paths. It returns every input problem, so the
// caller can add its own and report them all at once.
func SnapshotOptions(c *cli.Context, log *slog.Logger) (snapshot.Options, []error) {
	var problems []error
	if c.String("store") == "" {
		problems = append(problems, errors.New("no store given: set --store or MLSTATE_STORE (s3://BUCKET/PREFIX?endpoint=... or file:///PATH)"))
	}
	if err := restorepoint.ValidatePipeline(c.String("pipeline")); err != nil {
		problems = append(problems, err)
	}
	actions, err := ActionsOf(c)
	if err != nil {
		problems = append(problems, err)
	}
	stage, err := StagePaths(c)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) == 0 && len(actions) == 0 && len(stage) == 0 {
		problems = append(problems, errors.New("nothing to snapshot: give Kanister targets (--object with --blueprint) and/or --stage directories"))
	}
	return snapshot.Options{
		Pipeline: c.String("pipeline"),
		Workflow: WorkflowOf(c),
		Actions:  actions,
		Stage:    stage,
		Rehash:   c.Bool("rehash"),
		NewRun:   NewRun(c),
		Logger:   log,
	}, problems
}
