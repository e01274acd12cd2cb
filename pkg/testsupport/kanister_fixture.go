package testsupport

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// KanisterFixture is a namespace set up the way mlstate's steps expect a
// Kanister installation: the stand-in controller runs there, Blueprint
// FixtureBlueprint has backup, restore and delete actions (the restore and
// delete read the backup's output artifact "snap"), and PVC FixturePVC
// exists as a target.
type KanisterFixture struct {
	Kube      *KubeEnv
	Namespace string
	StandIn   *KanisterStandIn
}

// Names used by the fixture.
const (
	FixtureBlueprint = "ml-pvc"
	FixturePVC       = "checkpoints"
)

// NewKanisterFixture creates the namespace, Blueprint, PVC and stand-in.
func NewKanisterFixture(t testing.TB) *KanisterFixture {
	t.Helper()
	k := Kube(t)
	ns := k.Namespace(t, "kanister")
	ctx := context.Background()
	bp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1", "kind": "Blueprint",
		"metadata": map[string]any{"name": FixtureBlueprint, "namespace": ns},
		"actions": map[string]any{
			"backup": map[string]any{
				"outputArtifacts": map[string]any{"snap": map[string]any{"keyValue": map[string]any{
					"backupID":  "{{ .Phases.backupVolume.Output.backupID }}",
					"backupTag": "{{ .Phases.backupVolume.Output.backupTag }}",
				}}},
				"phases": []any{map[string]any{"func": "CopyVolumeData", "name": "backupVolume", "args": map[string]any{
					"namespace": "{{ .PVC.Namespace }}", "volume": "{{ .PVC.Name }}", "dataArtifactPrefix": "mlstate-test/{{ .PVC.Name }}",
				}}},
			},
			"restore": map[string]any{
				"phases": []any{map[string]any{"func": "RestoreData", "name": "restoreVolume", "args": map[string]any{
					"namespace": "{{ .PVC.Namespace }}", "image": "kanister-tools", "backupArtifactPrefix": "mlstate-test/{{ .PVC.Name }}",
					"backupTag": "{{ .ArtifactsIn.snap.KeyValue.backupTag }}",
				}}},
			},
			"delete": map[string]any{
				"phases": []any{map[string]any{"func": "DeleteData", "name": "deleteVolumeData", "args": map[string]any{
					"namespace": "{{ .Object.metadata.namespace }}", "backupArtifactPrefix": "mlstate-test/x",
					"backupID": "{{ .ArtifactsIn.snap.KeyValue.backupID }}",
				}}},
			},
		},
	}}
	if _, err := k.Dynamic.Resource(standInBlueprints).Namespace(ns).Create(ctx, bp, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create fixture Blueprint: %v", err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: FixturePVC, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	if _, err := k.Clientset.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create fixture PVC: %v", err)
	}
	return &KanisterFixture{Kube: k, Namespace: ns, StandIn: StartKanisterStandIn(t, k, ns)}
}

// Object is the --object value for the fixture PVC.
func (f *KanisterFixture) Object() string { return "pvc/" + f.Namespace + "/" + FixturePVC }

// ActionSets lists the ActionSets in the fixture namespace.
func (f *KanisterFixture) ActionSets(t testing.TB) []unstructured.Unstructured {
	t.Helper()
	list, err := f.Kube.Dynamic.Resource(standInActionSets).Namespace(f.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list ActionSets: %v", err)
	}
	return list.Items
}

// DeleteActionSet deletes one ActionSet, as a user cleaning up would.
func (f *KanisterFixture) DeleteActionSet(t testing.TB, name string) {
	t.Helper()
	err := f.Kube.Dynamic.Resource(standInActionSets).Namespace(f.Namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil {
		t.Fatalf("delete ActionSet %s: %v", name, err)
	}
}

// InstallBlueprint creates the Blueprint in the repository file rel (e.g.
// "workflowtemplates/blueprints/stage.yaml") in the fixture's namespace, as
// shipped but for the namespace.
func (f *KanisterFixture) InstallBlueprint(t testing.TB, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), rel))
	if err != nil {
		t.Fatalf("read Blueprint: %v", err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		t.Fatalf("decode %s: %v", rel, err)
	}
	bp := &unstructured.Unstructured{Object: obj}
	bp.SetNamespace(f.Namespace)
	if _, err := f.Kube.Dynamic.Resource(standInBlueprints).Namespace(f.Namespace).Create(context.Background(), bp, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Blueprint %s: %v", bp.GetName(), err)
	}
	return bp.GetName()
}
