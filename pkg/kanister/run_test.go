package kanister_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestRunCompletesWithRenderedArtifacts(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	var seen []kanister.Progress
	res, err := e.client.Run(context.Background(), e.backupRequest(""), func(p kanister.Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Actions) != 1 {
		t.Fatalf("got %d actions, want 1", len(res.Actions))
	}
	a := res.Actions[0]
	kv := a.Artifacts["volBackup"].KeyValue
	if kv["backupTag"] != res.Name+"-copy" || kv["backupID"] == "" || strings.Contains(kv["backupID"], "{{") {
		t.Fatalf("artifacts not rendered: %+v", a.Artifacts)
	}
	if a.Blueprint != "bp" || a.Object.Kind != "pvc" || a.Spec.Options["run"] != "r1" {
		t.Fatalf("unexpected action result %+v", a)
	}
	if got := a.Phases[1].Output["dataArtifactPrefix"]; got != "ml-state/r1" {
		t.Fatalf("phase copy rendered dataArtifactPrefix %v, want ml-state/r1", got)
	}
	last := seen[len(seen)-1]
	if last.State != kanister.StateComplete || last.CompletedPhases != 2 || last.TotalPhases != 2 || last.PercentCompleted != 100 {
		t.Fatalf("last progress %+v, want complete 2/2 100%%", last)
	}
	if b, err := os.ReadFile(e.client.ProgressFile); err != nil || string(b) != "2/2" {
		t.Fatalf("progress file = %q, %v; want 2/2", b, err)
	}
	u, err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).Get(context.Background(), res.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := u.GetLabels()
	if l[kanister.LabelPipeline] != "train" || l[kanister.LabelJobID] == "" || l[kanister.LabelAction] != "backup" {
		t.Fatalf("labels %v lack pipeline or JobID", l)
	}
}

func TestStrictValidationRejectsTypo(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	obj, err := kanister.BuildObject(e.client, e.backupRequest(""))
	if err != nil {
		t.Fatal(err)
	}
	actions, _, _ := unstructured.NestedSlice(obj.Object, "spec", "actions")
	actions[0].(map[string]any)["blueprnt"] = "bp"
	if err := unstructured.SetNestedSlice(obj.Object, actions, "spec", "actions"); err != nil {
		t.Fatal(err)
	}
	_, err = kanister.CreateOrAdopt(e.client, context.Background(), obj)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "blueprnt") {
		t.Fatalf("got %v (exit %d), want a usage error naming the unknown field", err, exitcode.Of(err))
	}
}

func TestRetryAdoptsTheSameActionSet(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	name := kanister.Name("wf-uid-1", "wf-1-2345", "backup")
	req := e.backupRequest(name)
	req.Labels[kanister.LabelWorkflowUID] = "wf-uid-1"
	first, err := e.client.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	second, err := e.client.Run(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("retried attempt: %v", err)
	}
	if first.Name != name || second.Name != name {
		t.Fatalf("names %s, %s; want %s", first.Name, second.Name, name)
	}
	if got := second.Actions[0].Artifacts["volBackup"].KeyValue["backupID"]; got != first.Actions[0].Artifacts["volBackup"].KeyValue["backupID"] {
		t.Fatalf("retry produced another backup %q", got)
	}
	list, err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || e.standin.Created() != 1 {
		t.Fatalf("%d ActionSets (stand-in saw %d), want 1", len(list.Items), e.standin.Created())
	}

	// Same name, another pipeline: not ours, so no adoption.
	req.Labels[kanister.LabelPipeline] = "other"
	_, err = e.client.Run(context.Background(), req, nil)
	if exitcode.Of(err) != exitcode.Conflict || !strings.Contains(err.Error(), "not created by this step") {
		t.Fatalf("got %v (exit %d), want a conflict", err, exitcode.Of(err))
	}
}

func TestFailureSurfacesPhaseMessageAndEvents(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{FailPhase: "copy", FailMessage: "restic: repository locked", FailDetails: map[string]string{"pod": "copy-x"}}
	})
	_, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
	var ae *kanister.ActionSetError
	if !errors.As(err, &ae) || exitcode.Of(err) != exitcode.Kanister || !errors.Is(err, kanister.ErrActionSetFailed) {
		t.Fatalf("got %v (exit %d), want an *ActionSetError with exit 13", err, exitcode.Of(err))
	}
	if ae.Action != "backup" || ae.Phase != "copy" || ae.Message != "restic: repository locked (pod=copy-x)" {
		t.Fatalf("error %+v, want action backup phase copy and the message", ae)
	}
	if len(ae.Events) == 0 || !strings.Contains(strings.Join(ae.Events, "\n"), "ActionSetFailed Action: backup") {
		t.Fatalf("events %q lack the Warning event", ae.Events)
	}
}

func TestFailureAtInitialisation(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	cases := []struct{ blueprint, action, want string }{
		{"bp", "nosuch", "Action nosuch for object kind pvc not found in blueprint bp"},
		{"missing-bp", "backup", `Failed to query blueprint: blueprints.cr.kanister.io "missing-bp" not found`},
	}
	for _, tc := range cases {
		req := e.backupRequest("")
		req.Actions[0].Blueprint, req.Actions[0].Name = tc.blueprint, tc.action
		_, err := e.client.Run(context.Background(), req, nil)
		var ae *kanister.ActionSetError
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, tc.want) || ae.Action != tc.action {
			t.Fatalf("%s/%s: got %v, want an ActionSetError with %q", tc.blueprint, tc.action, err, tc.want)
		}
	}
}

func TestRetryAfterFailedActionSetCreatesTheNext(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	name := kanister.Name("wf-uid-2", "wf-2-1", "backup")
	e.standin.Behave(func(u *unstructured.Unstructured) testsupport.StandInBehaviour {
		if u.GetName() == name { // the first attempt fails, as on a transient Kanister problem
			return testsupport.StandInBehaviour{FailPhase: "copy", FailMessage: "transient"}
		}
		return testsupport.StandInBehaviour{}
	})
	req := e.backupRequest(name)
	if _, err := e.client.Run(context.Background(), req, nil); !errors.Is(err, kanister.ErrActionSetFailed) {
		t.Fatalf("first attempt: %v, want it to fail", err)
	}
	for attempt := 2; attempt <= 3; attempt++ {
		res, err := e.client.Run(context.Background(), req, nil)
		if err != nil || res.Name != name+"-2" {
			t.Fatalf("attempt %d: %v, name %v; want %s-2 complete", attempt, err, res, name)
		}
	}
	if e.standin.Created() != 2 {
		t.Fatalf("stand-in saw %d ActionSets, want 2 (the failed one and its successor)", e.standin.Created())
	}
	u, err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).Get(context.Background(), name+"-2", metav1.GetOptions{})
	if err != nil || u.GetLabels()[kanister.LabelJobID] != name+"-2" {
		t.Fatalf("successor %v, %v: want its own JobID", u, err)
	}
}

// `argo retry` re-runs a node under the same workflow UID and node name, so
// the ActionSet name alone cannot tell a second run from a retryStrategy
// attempt. The first attempt of each run (NewRun) must start a new
// ActionSet even though the first run's completed; the retryStrategy
// attempts of each run must adopt that run's own ActionSet.
func TestArgoRetryRunsAgainWhileAttemptsAdopt(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	name := kanister.Name("wf-uid-3", "wf-3.onExit", "restore")
	req := e.backupRequest(name)
	run := func(what string, newRun bool, want string) {
		t.Helper()
		r := req
		r.NewRun = newRun
		res, err := e.client.Run(context.Background(), r, nil)
		if err != nil || res.Name != want {
			t.Fatalf("%s: %v, result %v; want ActionSet %s complete", what, err, res, want)
		}
	}
	run("first run, attempt 0", true, name)
	run("first run, retryStrategy attempt 1", false, name)
	if n := e.standin.Created(); n != 1 {
		t.Fatalf("stand-in saw %d ActionSets after the first run, want 1 (attempt 1 adopts)", n)
	}
	run("argo retry, attempt 0", true, name+"-2")
	run("argo retry, retryStrategy attempt 1", false, name+"-2")
	run("second argo retry, attempt 0", true, name+"-3")
	if n := e.standin.Created(); n != 3 {
		t.Fatalf("stand-in saw %d ActionSets, want 3 (one per run of the workflow)", n)
	}
}
