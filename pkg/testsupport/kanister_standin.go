package testsupport

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// KanisterStandIn is a TEST-ONLY stand-in for the Kanister controller, which
// cannot run here (its module and images are not available). It processes
// ActionSets on the envtest API server the way Kanister's controller does,
// as read in Kanister's source (kanisterio/kanister HEAD; controller.go is
// pkg/controller/controller.go, param.go pkg/param/param.go, action.go
// pkg/progress/action.go). It runs no Kanister functions: a phase "runs" by
// rendering its args and fabricating outputs.
//
//   - Watch (controller.go StartWatch, pkg/customresource watcher): ActionSets
//     in one namespace only, no resync; on (re)start every existing
//     ActionSet is handled as an add (onAdd).
//   - Validation (onAddActionSet, pkg/validate ActionSet): an object kind
//     Kanister does not know, without apiVersion and resource, gets no
//     status and no Event at all.
//   - Initialisation (initActionSetStatus, initialActionStatus): no
//     blueprint name fails with Event reason "Blueprint not specified"; a
//     Blueprint that cannot be read with reason "Error" and "Could not get
//     blueprint: Failed to query blueprint: ..."; an action missing from the
//     Blueprint with "ActionSetFailed Action: NAME". The failed status has
//     empty actions. Otherwise pending, every phase pending, the deferPhase
//     stub, raw {{ }} output-artifact templates, and no progress at all
//     (percentCompleted is absent). One plain Update.
//   - Start (handleActionSet): pending → running with one plain Update;
//     then each action is launched in turn: "Started Action" Event, template
//     params read as param.go New reads them (Secrets, ConfigMaps, the
//     Profile and its credential Secret, then the object). A launch failure
//     (missing Secret, ConfigMap, Profile or object) records Warning
//     "ActionSetFailed Action: NAME" / "Failed to launch Action AS: ERR" and
//     writes failed (first phase failed) with a plain Update of the object
//     as it was after the running write, which conflicts, and is lost, when
//     an action launched before has written since. Launched actions keep
//     running: each runs in its own goroutine, in parallel.
//   - Phases (runAction): in order; each: "Started Phase", runningPhase and
//     state running (no progress written), the function runs quietly (the
//     5 s poller of action.go UpdateActionSetsProgress writes the
//     function's "0" once), then complete with output and progressPercent
//     "100", and percentCompleted recomputed as the average of all phases'
//     percentages, lastTransitionTime moving only when it changes
//     (SetActionSetPercentCompleted). Args are rendered with text/template
//     and missingkey=error against .Object, .ArtifactsIn, .Options,
//     .Phases, .Secrets, .ConfigMaps, .Profile, .PVC/.StatefulSet/
//     .Deployment/.Namespace and .Time, so a restore without input
//     artifacts fails with "Failed to render template: ...". The rendered
//     args are then checked as pkg/phase.go setPhaseArgs checks them
//     (blueprint.CheckArgs): a missing required or an unsupported arg fails
//     the phase. Every write is a get-change-update retried on conflict
//     (pkg/reconcile ActionSet).
//   - Failure: a failing phase writes state failed, error.message and the
//     phase failed at once, with Warning "ActionSetFailed Action: NAME";
//     the deferPhase runs only after that (executeDeferPhase: runningPhase
//     is set to it, its own state stays pending until it ends).
//   - Completion (renderActionsetArtifacts, maybeSetActionSetStateComplete):
//     only an action whose phases and deferPhase all succeeded renders its
//     artifacts; then the state becomes complete when every phase of every
//     action is complete, even if another action is still in its deferPhase
//     or rendering. "Update Complete" follows (onUpdateActionSet).
//   - The controller sets no labels on the ActionSet.
//   - Restart: Stop kills the controller and deletes its pod; Restart
//     restarts its container in place (or starts a new pod after Stop). A
//     restarted controller starts pending ActionSets and those without
//     status, and ignores running, complete and failed ones, so one that was
//     running stays running for ever (handleActionSet; kanister#3725). The
//     stand-in keeps a Deployment named like the chart's and a pod whose
//     status shows when the current process started.
//
// Phase outputs are fabricated deterministically: every rendered top-level
// string arg is echoed under its own name, and backupID, backupTag and size
// are added unless an arg already set them. The exception: with a
// PodRunner set (SetPodRunner), PrepareData and KubeTask really run their
// pod, and their outputs are the ###Phase-output### lines of its log (see
// kanister_standin_pods.go).
//
// Knobs: Behave sets a function choosing a StandInBehaviour per ActionSet,
// and the same can be asked per ActionSet through spec.actions[].options
// with keys under StandInOption (so step-level tests can pass --option):
//
//	mlstate-standin/mode          no-status | hold-pending | freeze-running
//	mlstate-standin/fail-phase    name of the phase to fail
//	mlstate-standin/fail-message  its error message
//	mlstate-standin/phase-delay   Go duration each phase runs quietly
//	mlstate-standin/defer-delay   Go duration the deferPhase runs
//
// The mode applies to the whole ActionSet; the others only to the action
// whose options carry them.
type KanisterStandIn struct {
	k  *KubeEnv
	ns string
	t  testing.TB

	mu      sync.Mutex
	behave  func(actionSet *unstructured.Unstructured) StandInBehaviour
	seen    map[types.UID]string // every ActionSet ever seen, for Created
	handled map[types.UID]bool   // handled by the current run
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pod     string            // the current process's pod
	node    *corev1.Container // on a real node: the controller pod's container (StartKanisterStandInOnNode)
	pods    int               // pods created, for their names
	runner  PodRunner
}

// StandInBehaviour makes the stand-in misbehave for one ActionSet.
type StandInBehaviour struct {
	NoStatus      bool              // leave it without status (as for an invalid spec)
	HoldPending   bool              // never start it
	FreezeRunning bool              // hang in the first phase, writing nothing more
	FailPhase     string            // fail the phase with this name ...
	FailMessage   string            // ... with this error (Kanister prefixes its details' JSON) ...
	FailDetails   map[string]string // ... whose errkit details are these
	PhaseDelay    time.Duration     // how long every phase runs, quietly
	DeferDelay    time.Duration     // how long the deferPhase runs (default PhaseDelay)
}

// StandInOption prefixes the option keys the stand-in reads.
const StandInOption = "mlstate-standin/"

var (
	standInActionSets = schema.GroupVersionResource{Group: "cr.kanister.io", Version: "v1alpha1", Resource: "actionsets"}
	standInBlueprints = schema.GroupVersionResource{Group: "cr.kanister.io", Version: "v1alpha1", Resource: "blueprints"}
)

// StartKanisterStandIn starts a stand-in controller for namespace; it stops
// when the test ends.
func StartKanisterStandIn(t testing.TB, k *KubeEnv, namespace string) *KanisterStandIn {
	t.Helper()
	s := &KanisterStandIn{k: k, ns: namespace, t: t, seen: map[types.UID]string{}}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Behave sets the function that picks each new ActionSet's behaviour.
func (s *KanisterStandIn) Behave(f func(actionSet *unstructured.Unstructured) StandInBehaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behave = f
}

// Created returns how many distinct ActionSets the stand-in has seen.
func (s *KanisterStandIn) Created() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// Stop kills the controller: in-flight ActionSets are left as they are and
// its pod goes away (deleted, say, or its node lost).
func (s *KanisterStandIn) Stop() {
	if s.stopLoop() {
		s.stopPod(context.Background())
	}
}

// Restart restarts the controller's container in place, the way a crash
// or an OOM kill does (the pod stays, its container's start time moves),
// or starts a new pod when the controller was stopped.
func (s *KanisterStandIn) Restart() {
	if s.stopLoop() {
		if err := s.restartContainer(context.Background()); err != nil {
			s.t.Fatalf("kanister stand-in: restart container: %v", err)
		}
	}
	s.start()
}

// stopLoop ends the controller's goroutines; false when none ran.
func (s *KanisterStandIn) stopLoop() bool {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return false
	}
	cancel()
	s.wg.Wait()
	return true
}

func (s *KanisterStandIn) start() {
	if s.ControllerPod() == "" {
		if err := s.startPod(context.Background()); err != nil {
			s.t.Fatalf("kanister stand-in: controller pod: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel, s.handled = cancel, map[types.UID]bool{}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(ctx)
	}()
}

// loop lists and watches ActionSets until ctx ends (§5.1.1).
func (s *KanisterStandIn) loop(ctx context.Context) {
	ri := s.k.Dynamic.Resource(standInActionSets).Namespace(s.ns)
	for ctx.Err() == nil {
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		for i := range list.Items {
			s.add(ctx, &list.Items[i])
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			sleep(ctx, 50*time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && ev.Type == watch.Added {
				s.add(ctx, u)
			}
		}
		w.Stop()
	}
}

// add handles an ActionSet once per run, by its state (§5.2 re-runs).
func (s *KanisterStandIn) add(ctx context.Context, u *unstructured.Unstructured) {
	s.mu.Lock()
	s.seen[u.GetUID()] = u.GetName()
	dup := s.handled[u.GetUID()]
	s.handled[u.GetUID()] = true
	behave := s.behave
	s.mu.Unlock()
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	_, hasStatus, _ := unstructured.NestedMap(u.Object, "status")
	if dup || (hasStatus && state != "pending") {
		return
	}
	b := StandInBehaviour{}
	if behave != nil {
		b = behave(u)
	}
	base := b
	b = optionBehaviour(u, b)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r := &standInRun{s: s, name: u.GetName(), uid: u.GetUID(), b: b, base: base, start: time.Now().UTC()}
		err := r.process(ctx, u, hasStatus)
		switch {
		case err == nil, ctx.Err() != nil:
		case apierrors.IsNotFound(err): // deleted: Kanister's only cancellation (§5.2)
			s.t.Logf("kanister stand-in: ActionSet %s/%s deleted; stopped processing it", s.ns, r.name)
		default:
			s.t.Logf("kanister stand-in: ActionSet %s/%s: %v", s.ns, r.name, err)
		}
	}()
}

// optionBehaviour reads the mode option of every action: any action's
// mode applies to the whole ActionSet.
func optionBehaviour(u *unstructured.Unstructured, b StandInBehaviour) StandInBehaviour {
	actions, _, _ := unstructured.NestedSlice(u.Object, "spec", "actions")
	for _, a := range actions {
		opts, _, _ := unstructured.NestedStringMap(asMap(a), "options")
		switch opts[StandInOption+"mode"] {
		case "no-status":
			b.NoStatus = true
		case "hold-pending":
			b.HoldPending = true
		case "freeze-running":
			b.FreezeRunning = true
		}
	}
	return b
}

// actionBehaviour is b with one action's phase options applied: they
// concern that action only.
func actionBehaviour(spec map[string]any, b StandInBehaviour) StandInBehaviour {
	opts, _, _ := unstructured.NestedStringMap(spec, "options")
	if v := opts[StandInOption+"fail-phase"]; v != "" {
		b.FailPhase = v
	}
	if v := opts[StandInOption+"fail-message"]; v != "" {
		b.FailMessage = v
	}
	if d, err := time.ParseDuration(opts[StandInOption+"phase-delay"]); err == nil {
		b.PhaseDelay = d
	}
	if d, err := time.ParseDuration(opts[StandInOption+"defer-delay"]); err == nil {
		b.DeferDelay = d
	}
	return b
}

// event records a core/v1 Event on the ActionSet (§2.4).
func (s *KanisterStandIn) event(ctx context.Context, name string, uid types.UID, typ, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + ".", Namespace: s.ns},
		InvolvedObject: corev1.ObjectReference{Kind: "ActionSet", APIVersion: "cr.kanister.io/v1alpha1",
			Name: name, Namespace: s.ns, UID: uid},
		Reason: reason, Message: msg, Type: typ, Count: 1,
		Source:         corev1.EventSource{Component: "Kanister Controller"},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if _, err := s.k.Clientset.CoreV1().Events(s.ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		s.t.Logf("kanister stand-in: event %s on %s: %v", reason, name, err)
	}
}

func roundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func lower(s string) string { return strings.ToLower(s) }
