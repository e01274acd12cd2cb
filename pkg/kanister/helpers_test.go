package kanister_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// testBlueprint has a backup whose artifacts come from phase outputs and a
// restore that needs them, like the CopyVolumeData/RestoreData pair (§2.5).
const testBlueprint = `
actions:
  backup:
    outputArtifacts:
      volBackup:
        keyValue:
          backupID: "{{ .Phases.copy.Output.backupID }}"
          backupTag: "{{ .Phases.copy.Output.backupTag }}"
    phases:
    - func: KubeTask
      name: quiesce
      args: {namespace: "{{ .PVC.Namespace }}", image: busybox, command: ["true"]}
    - func: CopyVolumeData
      name: copy
      args:
        namespace: "{{ .PVC.Namespace }}"
        volume: "{{ .PVC.Name }}"
        dataArtifactPrefix: "ml-state/{{ .Options.run }}"
  restore:
    phases:
    - func: RestoreData
      name: restoreData
      args:
        namespace: "{{ .PVC.Namespace }}"
        image: ghcr.io/kanisterio/kanister-tools:0.119.0
        backupArtifactPrefix: "ml-state/x"
        volumes: {"{{ .PVC.Name }}": /mnt/data}
        backupTag: "{{ .ArtifactsIn.volBackup.KeyValue.backupTag }}"
`

type env struct {
	k       *testsupport.KubeEnv
	ns      string
	standin *testsupport.KanisterStandIn
	client  *kanister.Client
}

// setup makes a namespace with a Blueprint "bp" and a PVC "data", a stand-in
// controller for it (unless noController) and a client with short timeouts.
func setup(t testing.TB, noController bool) *env {
	t.Helper()
	k := testsupport.Kube(t)
	e := &env{k: k, ns: k.Namespace(t, "kan")}
	ctx := context.Background()
	bp := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(testBlueprint), &bp.Object); err != nil {
		t.Fatal(err)
	}
	bp.SetAPIVersion("cr.kanister.io/v1alpha1")
	bp.SetKind("Blueprint")
	bp.SetName("bp")
	if _, err := k.Dynamic.Resource(kanister.BlueprintGVR).Namespace(e.ns).Create(ctx, bp, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create blueprint: %v", err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: e.ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := k.Clientset.CoreV1().PersistentVolumeClaims(e.ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pvc: %v", err)
	}
	// Profile "s3": Kanister reads it and its Secret before any phase.
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3-creds", Namespace: e.ns},
		StringData: map[string]string{"id": "AKIA", "secret": "s3cr3t"}}
	if _, err := k.Clientset.CoreV1().Secrets(e.ns).Create(ctx, creds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	profile := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Profile",
		"metadata": map[string]any{"name": "s3", "namespace": e.ns},
		"location": map[string]any{"type": "s3Compliant", "bucket": "b", "endpoint": "http://minio:9000"},
		"credential": map[string]any{"type": "keyPair", "keyPair": map[string]any{"idField": "id", "secretField": "secret",
			"secret": map[string]any{"apiVersion": "v1", "kind": "Secret", "name": "s3-creds", "namespace": e.ns}}},
	}}
	if _, err := k.Dynamic.Resource(kanister.ProfileGVR).Namespace(e.ns).Create(ctx, profile, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create profile: %v", err)
	}
	if !noController {
		e.standin = testsupport.StartKanisterStandIn(t, k, e.ns)
	}
	e.client = &kanister.Client{
		Dynamic: k.Dynamic, Kube: k.Clientset, Namespace: e.ns,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Timeouts:     kanister.Timeouts{NoStatus: 20 * time.Second, Pending: 20 * time.Second, RestartCheck: 100 * time.Millisecond, ClockSkew: time.Nanosecond},
		ProgressFile: filepath.Join(t.TempDir(), "progress"),
	}
	return e
}

// backupRequest is one backup action of the PVC, run by hand (generateName).
func (e *env) backupRequest(name string) kanister.Request {
	return kanister.Request{
		Name:   name,
		Labels: map[string]string{kanister.LabelPipeline: "train"},
		Actions: []kanister.ActionSpec{{
			Name: "backup", Blueprint: "bp",
			Object:  kanister.ObjectRef{Kind: "pvc", Name: "data", Namespace: e.ns},
			Profile: &kanister.ObjectRef{Name: "s3", Namespace: e.ns},
			Options: map[string]string{"run": "r1"},
		}},
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
