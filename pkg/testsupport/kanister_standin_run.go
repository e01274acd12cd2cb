package testsupport

// The processing of one ActionSet by the KanisterStandIn (TEST-ONLY). Each
// step names the function of Kanister's source it follows; "controller.go"
// is pkg/controller/controller.go, "action.go" pkg/progress/action.go.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/mlstate/mlstate/pkg/blueprint"
)

// Status shapes as the controller writes them (pkg/apis/cr/v1alpha1
// types.go: percentCompleted, runningPhase and the times are omitempty).
type siStatus struct {
	State    string     `json:"state"`
	Actions  []siAction `json:"actions,omitempty"`
	Error    siError    `json:"error"`
	Progress siProgress `json:"progress"`
}
type siError struct {
	Message string `json:"message"`
}
type siProgress struct {
	RunningPhase       string `json:"runningPhase,omitempty"`
	PercentCompleted   string `json:"percentCompleted,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}
type siAction struct {
	Name       string         `json:"name"`
	Object     map[string]any `json:"object"`
	Blueprint  string         `json:"blueprint"`
	Phases     []siPhase      `json:"phases,omitempty"`
	Artifacts  map[string]any `json:"artifacts,omitempty"`
	DeferPhase siPhase        `json:"deferPhase"`
}
type siPhase struct {
	Name     string          `json:"name"`
	State    string          `json:"state"`
	Output   map[string]any  `json:"output,omitempty"`
	Progress siPhaseProgress `json:"progress"`
}
type siPhaseProgress struct {
	ProgressPercent    string `json:"progressPercent,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// progressTick is how often Kanister polls a running phase's progress
// (action.go, pollDuration).
const progressTick = 5 * time.Second

// standInRun is one ActionSet being processed.
type standInRun struct {
	s     *KanisterStandIn
	name  string
	uid   types.UID
	b     StandInBehaviour // with every action's mode option
	base  StandInBehaviour // from Behave only; see actionBehaviour
	start time.Time
	specs []map[string]any
}

var knownKinds = map[string]bool{"deployment": true, "statefulset": true, "deploymentconfig": true, "pvc": true, "namespace": true}

// process follows controller.go onAddActionSet: validate, initialise the
// status when there is none, then handleActionSet.
func (r *standInRun) process(ctx context.Context, u *unstructured.Unstructured, hasStatus bool) error {
	spec, ok := u.Object["spec"].(map[string]any)
	if !ok {
		return errors.New("invalid: no spec; left without status (validate.ActionSet)")
	}
	actions, _ := spec["actions"].([]any)
	for _, a := range actions {
		obj := asMap(asMap(a)["object"])
		kind, _ := obj["kind"].(string)
		if !knownKinds[lower(kind)] && (obj["apiVersion"] == nil || obj["apiVersion"] == "" || obj["resource"] == nil || obj["resource"] == "") {
			return fmt.Errorf("invalid: object kind %q unknown without apiVersion/resource; left without status (validate.ActionSet)", kind)
		}
		r.specs = append(r.specs, asMap(a))
	}
	if r.b.NoStatus {
		return nil
	}
	if !hasStatus {
		if err := r.initStatus(ctx, u); err != nil {
			return err
		}
	}
	if r.b.HoldPending {
		return nil
	}
	return r.handle(ctx)
}

// initStatus follows controller.go initActionSetStatus and
// initialActionStatus: on the first problem the status is failed with
// empty actions, otherwise pending with every phase pending, the
// deferPhase stub and the raw output-artifact templates. No progress is
// written yet. One plain Update, not retried.
func (r *standInRun) initStatus(ctx context.Context, u *unstructured.Unstructured) error {
	st := siStatus{State: "pending"}
	var failure, reason, eventMsg string
	for _, a := range r.specs {
		name, bpName := str(a["name"]), str(a["blueprint"])
		if bpName == "" {
			failure, reason = "Blueprint is not specified for action", "Blueprint not specified"
			eventMsg = "Could not get blueprint: " + failure
			break
		}
		bp, err := r.s.k.Dynamic.Resource(standInBlueprints).Namespace(r.s.ns).Get(ctx, bpName, metav1.GetOptions{})
		if err != nil {
			failure, reason = "Failed to query blueprint: "+err.Error(), "Error"
			eventMsg = "Could not get blueprint: " + failure
			break
		}
		bpAction := asMap(asMap(bp.Object["actions"])[name])
		if bpAction == nil {
			kind := str(asMap(a["object"])["kind"])
			failure = fmt.Sprintf("Action %s for object kind %s not found in blueprint %s", name, kind, bpName)
			reason, eventMsg = "ActionSetFailed Action: "+name, "Could not get initial action: "+failure
			break
		}
		act := siAction{Name: name, Object: asMap(a["object"]), Blueprint: bpName, Artifacts: asMap(bpAction["outputArtifacts"])}
		for _, p := range asSlice(bpAction["phases"]) {
			act.Phases = append(act.Phases, siPhase{Name: str(asMap(p)["name"]), State: "pending"})
		}
		if d := asMap(bpAction["deferPhase"]); d != nil {
			act.DeferPhase = siPhase{Name: str(d["name"]), State: "pending"}
		}
		st.Actions = append(st.Actions, act)
	}
	if failure != "" {
		st = siStatus{State: "failed", Error: siError{Message: failure}}
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, reason, eventMsg)
	}
	if err := setStatus(u, &st); err != nil {
		return err
	}
	_, err := r.s.k.Dynamic.Resource(standInActionSets).Namespace(r.s.ns).Update(ctx, u, metav1.UpdateOptions{})
	return err
}

// handle follows controller.go handleActionSet and runAction: pending →
// running with one plain Update; then each action is launched in turn (its
// Blueprint re-read, its template params resolved: Secrets, ConfigMaps,
// Profile and its credential Secret, the object) and runs in its own
// goroutine, so actions run in parallel. The first launch failure marks
// that action's first phase and the ActionSet failed with one plain Update
// of the object as it was after the running write: when an action already
// launched has written since, that Update conflicts and the failure is
// never recorded (the ActionSet then stays running; only the Warning Event
// tells). Actions already launched keep running either way.
func (r *standInRun) handle(ctx context.Context) error {
	ri := r.s.k.Dynamic.Resource(standInActionSets).Namespace(r.s.ns)
	u, err := ri.Get(ctx, r.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var st siStatus
	if err := roundTrip(u.Object["status"], &st); err != nil {
		return err
	}
	if st.State != "pending" {
		return nil
	}
	st.State = "running"
	if err := setStatus(u, &st); err != nil {
		return err
	}
	if u, err = ri.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, a := range st.Actions {
		bp, err := r.s.k.Dynamic.Resource(standInBlueprints).Namespace(r.s.ns).Get(ctx, a.Blueprint, metav1.GetOptions{})
		if err != nil {
			msg := "Failed to query blueprint: " + err.Error()
			r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "Error", "Could not get blueprint: "+msg)
			return r.launchFailed(ctx, u, &st, i, msg)
		}
		// Each action's goroutine gets its Blueprint action as an argument:
		// later launches must not write anything the running ones read.
		bpAction := asMap(asMap(bp.Object["actions"])[a.Name])
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Started Action", "Executing action "+a.Name)
		params, err := r.params(ctx, r.specs[i])
		if err != nil {
			r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "ActionSetFailed Action: "+a.Name,
				fmt.Sprintf("Failed to launch Action %s: %v", r.name, err))
			return r.launchFailed(ctx, u, &st, i, err.Error())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.runAction(ctx, i, bpAction, params); err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
				r.s.t.Logf("kanister stand-in: ActionSet %s/%s action %d: %v", r.s.ns, r.name, i, err)
			}
		}()
	}
	return nil
}

// launchFailed writes the launch failure the way handleActionSet does.
func (r *standInRun) launchFailed(ctx context.Context, u *unstructured.Unstructured, st *siStatus, i int, msg string) error {
	if len(st.Actions[i].Phases) > 0 {
		st.Actions[i].Phases[0].State = "failed"
	}
	st.State, st.Progress.RunningPhase, st.Error.Message = "failed", "", msg
	if err := setStatus(u, st); err != nil {
		return err
	}
	_, err := r.s.k.Dynamic.Resource(standInActionSets).Namespace(r.s.ns).Update(ctx, u, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		r.s.t.Logf("kanister stand-in: ActionSet %s/%s: the launch failure of action %d was not recorded (conflict), as in Kanister", r.s.ns, r.name, i)
		return nil
	}
	return err
}

// runAction follows the goroutine of controller.go runAction: phases in
// order, the deferPhase after them whether they failed or not (so `failed`
// is written before the deferPhase runs), then, only when all succeeded,
// renderActionsetArtifacts and maybeSetActionSetStateComplete.
func (r *standInRun) runAction(ctx context.Context, i int, bp, params map[string]any) error {
	spec := r.specs[i]
	name := str(spec["name"])
	phasesOut := map[string]any{}
	params["Phases"] = phasesOut
	var coreErr error
	for j, p := range asSlice(bp["phases"]) {
		pm := asMap(p)
		phase := str(pm["name"])
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Started Phase", "Executing phase "+phase)
		if err := r.reconcile(ctx, func(st *siStatus) {
			st.Progress.RunningPhase = phase
			st.Actions[i].Phases[j].State = "running"
		}); err != nil {
			return err
		}
		if r.b.FreezeRunning {
			<-ctx.Done() // hangs, writing nothing more
			return ctx.Err()
		}
		out, err := r.execPhase(ctx, i, j, phase, pm, params)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			err = withDetails(err, actionBehaviour(spec, r.base).FailDetails)
			coreErr = err
			if werr := r.reconcile(ctx, func(st *siStatus) {
				st.Progress.RunningPhase, st.State, st.Error.Message = "", "failed", err.Error()
				st.Actions[i].Phases[j].State = "failed"
			}); werr != nil {
				return werr
			}
			r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "ActionSetFailed Action: "+name,
				fmt.Sprintf("Failed to execute phase: %s: %v", phase, err))
			break
		}
		now := time.Now().UTC().Format(time.RFC3339)
		if err := r.reconcile(ctx, func(st *siStatus) {
			ph := &st.Actions[i].Phases[j]
			ph.State, ph.Output = "complete", out
			ph.Progress = siPhaseProgress{ProgressPercent: "100", LastTransitionTime: now}
			setPercentCompleted(st)
		}); err != nil {
			return err
		}
		phasesOut[phase] = map[string]any{"Output": out}
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Ended Phase", "Completed phase "+phase)
	}
	var deferErr error
	if d := asMap(bp["deferPhase"]); d != nil {
		deferErr = r.runDefer(ctx, i, d, params)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if coreErr != nil || deferErr != nil {
		return nil
	}
	return r.finish(ctx, i, params)
}

// withDetails prefixes a function's error with the JSON of its errkit
// details, as runAction does for every error that has Details() (all of
// Kanister's own: "null" when there are none).
func withDetails(err error, details map[string]string) error {
	b, _ := json.Marshal(details)
	if details == nil {
		b = []byte("null")
	}
	return fmt.Errorf("%s: %w", b, err)
}

// runDefer follows controller.go executeDeferPhase: runningPhase is set to
// it (its own state stays pending while it runs), then complete or failed.
func (r *standInRun) runDefer(ctx context.Context, i int, d, params map[string]any) error {
	name, phase := str(r.specs[i]["name"]), str(d["name"])
	if err := r.reconcile(ctx, func(st *siStatus) { st.Progress.RunningPhase = phase }); err != nil {
		return err
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Started deferPhase", "Executing deferPhase "+phase)
	out, err := r.execPhase(ctx, i, -1, phase, d, params)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if werr := r.reconcile(ctx, func(st *siStatus) {
		dp := &st.Actions[i].DeferPhase
		if err != nil {
			st.Progress.RunningPhase, st.State, st.Error.Message = "", "failed", err.Error()
			dp.State = "failed"
			return
		}
		dp.State, dp.Output = "complete", out
	}); werr != nil {
		return werr
	}
	if err != nil {
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "ActionSetFailed Action: "+name,
			fmt.Sprintf("Failed to execute defer phase: %s: %v", phase, err))
		return err
	}
	params["DeferPhase"] = map[string]any{"Output": out}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Ended deferPhase", "Completed deferPhase "+phase)
	return nil
}

// finish renders the action's artifacts (a failure fails the ActionSet)
// and sets complete only when every phase of every action is complete and
// the ActionSet has not failed; another action may still be running its
// deferPhase or rendering its artifacts at that moment.
func (r *standInRun) finish(ctx context.Context, i int, params map[string]any) error {
	var tpl map[string]any
	if err := r.reconcile(ctx, func(st *siStatus) { tpl = st.Actions[i].Artifacts }); err != nil {
		return err
	}
	rendered, rerr := render(tpl, params)
	if err := r.reconcile(ctx, func(st *siStatus) {
		if rerr != nil {
			st.State, st.Progress.RunningPhase, st.Error.Message = "failed", "", rerr.Error()
			return
		}
		st.Actions[i].Artifacts, _ = rendered.(map[string]any)
	}); err != nil {
		return err
	}
	if rerr != nil {
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "ActionSetFailed Action: "+str(r.specs[i]["name"]),
			"Failed to render output artifacts "+rerr.Error())
		return nil
	}
	completed := false
	if err := r.reconcile(ctx, func(st *siStatus) {
		if phaseInAction(st.Progress.RunningPhase, st.Actions[i]) {
			st.Progress.RunningPhase = ""
		}
		for _, a := range st.Actions {
			for _, p := range a.Phases {
				if p.State != "complete" {
					return
				}
			}
		}
		if st.State != "failed" {
			st.State, completed = "complete", true
		}
	}); err != nil {
		return err
	}
	if completed { // onUpdateActionSet sees the transition
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Update Complete", "Updated ActionSet '"+r.name+"' Status->complete")
	}
	return nil
}

// execPhase renders the args and "runs" the function (see the type doc);
// a phase index j < 0 is the deferPhase. While it runs, the progress poller
// of action.go UpdateActionSetsProgress writes the function's "0" once,
// after its first tick, and nothing else.
func (r *standInRun) execPhase(ctx context.Context, i, j int, phase string, p, params map[string]any) (map[string]any, error) {
	b := actionBehaviour(r.specs[i], r.base)
	delay := b.PhaseDelay
	if j < 0 && b.DeferDelay > 0 {
		delay = b.DeferDelay
	}
	if delay > 0 {
		if j >= 0 && delay > progressTick {
			sleep(ctx, progressTick)
			err := r.reconcile(ctx, func(st *siStatus) {
				ph := &st.Actions[i].Phases[j]
				if ph.State == "running" && ph.Progress.ProgressPercent != "0" {
					ph.Progress.ProgressPercent = "0"
					setPercentCompleted(st)
				}
			})
			if err != nil {
				return nil, err
			}
			sleep(ctx, delay-progressTick)
		} else {
			sleep(ctx, delay)
		}
	}
	args, err := render(p["args"], params)
	if err != nil {
		return nil, err
	}
	if b.FailPhase == phase {
		msg := b.FailMessage
		if msg == "" {
			msg = "stand-in: phase " + phase + " failed as the test asked"
		}
		return nil, errors.New(msg)
	}
	if err := blueprint.CheckArgs(str(p["func"]), asMap(args)); err != nil {
		return nil, err
	}
	if runner := r.s.podRunner(); runner != nil && podFunctions[str(p["func"])] {
		return r.runPodFunction(ctx, runner, str(p["func"]), asMap(args))
	}
	return r.outputs(phase, asMap(args)), nil
}

// outputs fabricates a phase's output deterministically (see the type doc).
func (r *standInRun) outputs(phase string, args map[string]any) map[string]any {
	sum := sha256.Sum256([]byte(r.name + "/" + phase))
	out := map[string]any{"backupID": hex.EncodeToString(sum[:])[:16], "backupTag": r.name + "-" + phase, "size": "1024"}
	for k, v := range args {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// reconcile follows pkg/reconcile ActionSet: get, change, update, retried
// on conflict.
func (r *standInRun) reconcile(ctx context.Context, f func(*siStatus)) error {
	ri := r.s.k.Dynamic.Resource(standInActionSets).Namespace(r.s.ns)
	for {
		u, err := ri.Get(ctx, r.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var st siStatus
		if err := roundTrip(u.Object["status"], &st); err != nil {
			return err
		}
		f(&st)
		if err := setStatus(u, &st); err != nil {
			return err
		}
		if _, err = ri.Update(ctx, u, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			return err
		}
	}
}

// setPercentCompleted follows action.go SetActionSetPercentCompleted: the
// integer average of every phase's percentage (an absent one counts 0),
// with lastTransitionTime moved only when the average changes.
func setPercentCompleted(st *siStatus) {
	sum, n := 0, 0
	for _, a := range st.Actions {
		for _, p := range a.Phases {
			n++
			v, _ := strconv.Atoi(p.Progress.ProgressPercent)
			sum += v
		}
	}
	if n == 0 {
		return
	}
	pct := strconv.Itoa(sum / n)
	if pct == st.Progress.PercentCompleted {
		return
	}
	st.Progress.PercentCompleted = pct
	st.Progress.LastTransitionTime = time.Now().UTC().Format(time.RFC3339)
}

func phaseInAction(phase string, a siAction) bool {
	for _, p := range a.Phases {
		if p.Name == phase {
			return true
		}
	}
	return a.DeferPhase.Name == phase
}

func setStatus(u *unstructured.Unstructured, st *siStatus) error {
	var raw map[string]any
	if err := roundTrip(st, &raw); err != nil {
		return err
	}
	u.Object["status"] = raw
	return nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
