package kanister_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
)

func TestRestoreFromRecordAfterBackupDeleted(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	ctx := context.Background()
	backup, err := e.client.Run(ctx, e.backupRequest(""), nil)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	// The record goes through JSON, as it does in a restore point.
	b, err := json.Marshal(backup.Recorded())
	if err != nil {
		t.Fatal(err)
	}
	var recs []kanister.RecordedAction
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	if err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).Delete(ctx, backup.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the backup ActionSet: %v", err)
	}
	spec := kanister.RestoreAction(recs[0], "restore")
	if spec.Profile == nil || spec.Profile.Name != "s3" || spec.Options["run"] != "r1" || spec.Object.Kind != "pvc" {
		t.Fatalf("restore spec lost recorded fields: %+v", spec)
	}
	restored, err := e.client.Run(ctx, kanister.Request{Labels: map[string]string{kanister.LabelPipeline: "train"},
		Actions: []kanister.ActionSpec{spec}}, nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	want := backup.Actions[0].Artifacts["volBackup"].KeyValue["backupTag"]
	if got := restored.Actions[0].Phases[0].Output["backupTag"]; got != want {
		t.Fatalf("restore phase saw backupTag %v, want the backup's %q", got, want)
	}

	// Without the recorded artifacts Kanister fails to render (#1882).
	spec.Artifacts = nil
	_, err = e.client.Run(ctx, kanister.Request{Labels: map[string]string{kanister.LabelPipeline: "train"},
		Actions: []kanister.ActionSpec{spec}}, nil)
	var ae *kanister.ActionSetError
	if !errors.As(err, &ae) || ae.Phase != "restoreData" || !strings.Contains(ae.Message, "Failed to render template") {
		t.Fatalf("got %v, want a render failure in phase restoreData", err)
	}
}

func TestForbiddenNamesVerbResourceAndNamespace(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	dyn, err := dynamic.NewForConfig(e.k.UserConfig(t, "no-rbac"))
	if err != nil {
		t.Fatal(err)
	}
	e.client.Dynamic = dyn
	_, err = e.client.Run(context.Background(), e.backupRequest(""), nil)
	want := "no permission to create actionsets.cr.kanister.io in namespace " + e.ns
	if exitcode.Of(err) != exitcode.Permission || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v (exit %d), want exit 21 and %q", err, exitcode.Of(err), want)
	}
}

func TestMissingNamespaceIsAPrecondition(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	e.client.Namespace = "no-such-kanister"
	_, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
	if exitcode.Of(err) != exitcode.Precondition || !strings.Contains(err.Error(), "namespace no-such-kanister does not exist") {
		t.Fatalf("got %v (exit %d), want exit 10 naming the namespace", err, exitcode.Of(err))
	}
}
