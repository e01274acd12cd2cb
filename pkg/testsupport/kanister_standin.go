package testsupport

import (
	"context"
	"encoding/json"
	"fmt"
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
// ActionSets on the envtest API server the way the Kanister contract
// (shared/reference/kanister-contract.md) describes the real controller;
// every behaviour below names the section it follows. It runs no Kanister
// functions: a phase "runs" by rendering its args and fabricating outputs.
//
//   - §1, §5.1.1: it watches ActionSets in one namespace only, with no resync;
//     on (re)start every existing ActionSet is handled as an add.
//   - §5.1.2: an invalid spec (an object kind Kanister does not know, without
//     apiVersion and resource) gets no status and no event at all.
//   - §5.1.3: initialisation reads the Blueprint from the ActionSet's
//     namespace; a missing blueprint name, a missing Blueprint or an action
//     not in it fails the ActionSet with Kanister's messages and empty
//     status.actions. Otherwise status.actions has every phase pending, the
//     deferPhase stub and the raw {{ }} output-artifact templates.
//   - §5.1.4-5: pending → running; the target object is fetched (missing: the
//     action fails); phases run in order, each set running (runningPhase,
//     lastTransitionTime) then complete (progressPercent "100", output,
//     percentCompleted = completed phases of all actions × 100 / all phases).
//     Args are rendered with text/template and missingkey=error against
//     .Object, .ArtifactsIn, .Options, .Phases, .PVC/.StatefulSet/.Deployment/
//     .Namespace, .Time (§2.5), so a restore without input artifacts fails
//     with "Failed to render template: ..." (#1882). Actions run one after
//     the other here (Kanister runs them in parallel; nothing observable by
//     a client depends on that).
//   - Phase outputs are fabricated deterministically: every rendered
//     top-level string arg is echoed under its own name, and backupID,
//     backupTag and size are added unless an arg already set them.
//   - §5.1.6-7: the deferPhase runs after the phases either way; artifacts are
//     rendered only after every phase succeeded, then state becomes complete.
//   - §2.4: Events from component "Kanister Controller": Normal "Started
//     Action", "Started Phase", "Ended Phase", "Update Complete"; Warning
//     "ActionSetFailed Action: <name>" (and "Blueprint not specified").
//   - §1: every status write is a full Update of the object (no status
//     subresource).
//   - §5.2: Stop simulates the controller dying: ActionSets it was running
//     stay running for ever (#3725); Restart handles pending ones and those
//     without status, and ignores running, complete and failed ones.
//
// Knobs: Behave sets a function choosing a StandInBehaviour per ActionSet,
// and the same can be asked per ActionSet through spec.actions[].options
// with keys under StandInOption (so step-level tests can pass --option):
//
//	mlstate-standin/mode          no-status | hold-pending | freeze-running
//	mlstate-standin/fail-phase    name of the phase to fail
//	mlstate-standin/fail-message  its error message
//	mlstate-standin/phase-delay   Go duration slept inside every phase
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
}

// StandInBehaviour makes the stand-in misbehave for one ActionSet.
type StandInBehaviour struct {
	NoStatus      bool          // leave it without status (as for an invalid spec)
	HoldPending   bool          // never start it
	FreezeRunning bool          // stop writing once its first phase runs (#3725)
	FailPhase     string        // fail the phase with this name ...
	FailMessage   string        // ... with this status.error.message
	PhaseDelay    time.Duration // sleep inside every phase
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

// Stop kills the controller: in-flight ActionSets are left as they are.
func (s *KanisterStandIn) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		s.wg.Wait()
	}
}

// Restart stops the controller if it runs and starts it again.
func (s *KanisterStandIn) Restart() {
	s.Stop()
	s.start()
}

func (s *KanisterStandIn) start() {
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
	b = optionBehaviour(u, b)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r := &standInRun{s: s, name: u.GetName(), uid: u.GetUID(), b: b, start: time.Now().UTC()}
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

// optionBehaviour reads the mlstate-standin/ options of every action.
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
		if v := opts[StandInOption+"fail-phase"]; v != "" {
			b.FailPhase = v
		}
		if v := opts[StandInOption+"fail-message"]; v != "" {
			b.FailMessage = v
		}
		if d, err := time.ParseDuration(opts[StandInOption+"phase-delay"]); err == nil {
			b.PhaseDelay = d
		}
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

// writeStatus replaces the status with a full Update, retried on conflict
// (§1: no status subresource; §5.1.5 reconcile.ActionSet).
func (s *KanisterStandIn) writeStatus(ctx context.Context, name string, st *siStatus) error {
	ri := s.k.Dynamic.Resource(standInActionSets).Namespace(s.ns)
	var raw map[string]any
	if err := roundTrip(st, &raw); err != nil {
		return err
	}
	for {
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		u.Object["status"] = raw
		if _, err = ri.Update(ctx, u, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return err
		}
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

// fmtPercent is percentCompleted as Kanister writes it: an integer as text.
func fmtPercent(done, total int) string {
	if total == 0 {
		return "0"
	}
	return fmt.Sprint(done * 100 / total)
}
