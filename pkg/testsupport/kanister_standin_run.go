package testsupport

// The processing of one ActionSet by the KanisterStandIn (TEST-ONLY); the
// section numbers refer to the Kanister contract.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Status shapes as the controller writes them (§2.4).
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
	Name     string         `json:"name"`
	State    string         `json:"state"`
	Output   map[string]any `json:"output,omitempty"`
	Progress struct {
		ProgressPercent    string `json:"progressPercent,omitempty"`
		LastTransitionTime string `json:"lastTransitionTime,omitempty"`
	} `json:"progress"`
}

// standInRun is one ActionSet being processed.
type standInRun struct {
	s     *KanisterStandIn
	name  string
	uid   types.UID
	b     StandInBehaviour
	start time.Time
	st    siStatus
	specs []map[string]any
	bps   []map[string]any // the Blueprint action of each spec action
}

var knownKinds = map[string]bool{"deployment": true, "statefulset": true, "deploymentconfig": true, "pvc": true, "namespace": true}

func (r *standInRun) process(ctx context.Context, u *unstructured.Unstructured, hasStatus bool) error {
	spec, ok := u.Object["spec"].(map[string]any)
	if !ok {
		return errors.New("invalid: no spec; left without status (§5.1.2)")
	}
	actions, _ := spec["actions"].([]any)
	for _, a := range actions {
		obj := asMap(asMap(a)["object"])
		kind, _ := obj["kind"].(string)
		if !knownKinds[lower(kind)] && (obj["apiVersion"] == nil || obj["apiVersion"] == "" || obj["resource"] == nil || obj["resource"] == "") {
			return fmt.Errorf("invalid: object kind %q unknown without apiVersion/resource; left without status (§5.1.2)", kind)
		}
		r.specs = append(r.specs, asMap(a))
	}
	if r.b.NoStatus {
		return nil
	}
	if hasStatus { // pending at restart: the Blueprint is re-read at start anyway
		if err := roundTrip(u.Object["status"], &r.st); err != nil {
			return err
		}
	}
	if msg, reason := r.initStatus(ctx); msg != "" {
		r.st = siStatus{State: "failed", Error: siError{Message: msg}}
		if err := r.s.writeStatus(ctx, r.name, &r.st); err != nil {
			return err
		}
		r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, reason, msg)
		return nil
	}
	if !hasStatus {
		if err := r.write(ctx); err != nil {
			return err
		}
	}
	if r.b.HoldPending {
		return nil
	}
	r.st.State = "running"
	if err := r.write(ctx); err != nil {
		return err
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Started Action", "Executing action "+r.actionNames())
	for i := range r.specs {
		if done, err := r.runAction(ctx, i); err != nil || done {
			return err
		}
	}
	r.st.State, r.st.Progress.RunningPhase = "complete", ""
	if err := r.write(ctx); err != nil {
		return err
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Update Complete", "Updated ActionSet '"+r.name+"' Status->complete")
	return nil
}

// initStatus builds status.actions from the Blueprints (§5.1.3); on error it
// returns Kanister's message and the event reason.
func (r *standInRun) initStatus(ctx context.Context) (msg, reason string) {
	var acts []siAction
	for _, a := range r.specs {
		name, _ := a["name"].(string)
		bpName, _ := a["blueprint"].(string)
		if bpName == "" {
			return "Blueprint is not specified for action", "Blueprint not specified"
		}
		bp, err := r.s.k.Dynamic.Resource(standInBlueprints).Namespace(r.s.ns).Get(ctx, bpName, metav1.GetOptions{})
		if err != nil {
			return fmt.Sprintf("Failed to query blueprint %s: %v", bpName, err), "ActionSetFailed Action: " + name
		}
		bpAction := asMap(asMap(bp.Object["actions"])[name])
		if bpAction == nil {
			kind, _ := asMap(a["object"])["kind"].(string)
			return fmt.Sprintf("Action %s for object kind %s not found in blueprint %s", name, kind, bpName), "ActionSetFailed Action: " + name
		}
		r.bps = append(r.bps, bpAction)
		act := siAction{Name: name, Object: asMap(a["object"]), Blueprint: bpName, Artifacts: asMap(bpAction["outputArtifacts"])}
		for _, p := range asSlice(bpAction["phases"]) {
			act.Phases = append(act.Phases, siPhase{Name: str(asMap(p)["name"]), State: "pending"})
		}
		if d := asMap(bpAction["deferPhase"]); d != nil {
			act.DeferPhase = siPhase{Name: str(d["name"]), State: "pending"}
		}
		acts = append(acts, act)
	}
	if len(r.st.Actions) == 0 {
		r.st = siStatus{State: "pending", Actions: acts, Progress: siProgress{PercentCompleted: "0"}}
	}
	return "", ""
}

// runAction runs one action's phases, deferPhase and artifacts (§5.1.4-7).
// done reports that processing ends here (failed or frozen).
func (r *standInRun) runAction(ctx context.Context, i int) (done bool, err error) {
	act, spec, bp := &r.st.Actions[i], r.specs[i], r.bps[i]
	params, err := r.params(ctx, spec)
	if err != nil {
		act.Phases[0].State = "failed"
		return true, r.fail(ctx, act.Name, fmt.Sprintf("Failed to get template params for action %s: %v", act.Name, err))
	}
	phasesOut := map[string]any{}
	params["Phases"] = phasesOut
	var failure string
	for j, p := range asSlice(bp["phases"]) {
		ph := &act.Phases[j]
		if failure = r.runPhase(ctx, ph, asMap(p), params); ctx.Err() != nil || r.b.FreezeRunning {
			return true, ctx.Err()
		}
		if failure != "" {
			break
		}
		phasesOut[ph.Name] = map[string]any{"Output": ph.Output}
	}
	if d := asMap(bp["deferPhase"]); d != nil {
		if msg := r.runPhase(ctx, &act.DeferPhase, d, params); msg != "" {
			failure = msg
		}
		params["DeferPhase"] = map[string]any{"Output": act.DeferPhase.Output}
	}
	if failure != "" {
		return true, r.fail(ctx, act.Name, failure)
	}
	rendered, err := render(act.Artifacts, params)
	if err != nil {
		return true, r.fail(ctx, act.Name, err.Error())
	}
	act.Artifacts, _ = rendered.(map[string]any)
	return false, r.write(ctx)
}

// runPhase moves one phase to running and then complete or failed; it
// returns the failure message, if any.
func (r *standInRun) runPhase(ctx context.Context, ph *siPhase, p, params map[string]any) string {
	now := time.Now().UTC().Format(time.RFC3339)
	ph.State, ph.Progress.ProgressPercent, ph.Progress.LastTransitionTime = "running", "0", now
	r.st.Progress.RunningPhase = ph.Name
	if err := r.write(ctx); err != nil || r.b.FreezeRunning {
		return ""
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Started Phase", "Executing phase "+ph.Name)
	sleep(ctx, r.b.PhaseDelay)
	args, err := render(p["args"], params)
	msg := ""
	switch {
	case err != nil:
		msg = err.Error()
	case r.b.FailPhase == ph.Name:
		msg = r.b.FailMessage
		if msg == "" {
			msg = "stand-in: phase " + ph.Name + " failed as the test asked"
		}
	}
	if msg != "" {
		ph.State = "failed"
		return msg
	}
	ph.Output = r.outputs(ph.Name, asMap(args))
	ph.State, ph.Progress.ProgressPercent = "complete", "100"
	ph.Progress.LastTransitionTime = time.Now().UTC().Format(time.RFC3339)
	if err := r.write(ctx); err != nil {
		return ""
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeNormal, "Ended Phase", "Completed phase "+ph.Name)
	return ""
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

func (r *standInRun) fail(ctx context.Context, action, msg string) error {
	r.st.State, r.st.Error.Message, r.st.Progress.RunningPhase = "failed", msg, ""
	if err := r.write(ctx); err != nil {
		return err
	}
	r.s.event(ctx, r.name, r.uid, corev1.EventTypeWarning, "ActionSetFailed Action: "+action, msg)
	return nil
}

// write recomputes the progress aggregate and writes the status (§2.4).
func (r *standInRun) write(ctx context.Context) error {
	done, total := 0, 0
	for _, a := range r.st.Actions {
		for _, p := range a.Phases {
			total++
			if p.State == "complete" {
				done++
			}
		}
	}
	r.st.Progress.PercentCompleted = fmtPercent(done, total)
	r.st.Progress.LastTransitionTime = time.Now().UTC().Format(time.RFC3339)
	return r.s.writeStatus(ctx, r.name, &r.st)
}

func (r *standInRun) actionNames() string {
	var n []string
	for _, a := range r.st.Actions {
		n = append(n, a.Name)
	}
	return strings.Join(n, ",")
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
