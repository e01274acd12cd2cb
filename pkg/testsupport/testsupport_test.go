package testsupport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestMain(m *testing.M) { Main(m) }

func TestMinIORoundTrip(t *testing.T) {
	s := MinIO(t)
	bucket := s.Bucket(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	data := make([]byte, 3<<20+17)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.PutObject(ctx, bucket, "a/b.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	info, err := s.Client.StatObject(ctx, bucket, "a/b.bin", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("stat size = %d, want %d", info.Size, len(data))
	}
	obj, err := s.Client.GetObject(ctx, bucket, "a/b.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer obj.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(obj); err != nil {
		t.Fatalf("read: %v", err)
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatal("object read back differs from what was written")
	}
}

var actionSetGVR = schema.GroupVersionResource{Group: "cr.kanister.io", Version: "v1alpha1", Resource: "actionsets"}

func actionSet(ns string, action map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cr.kanister.io/v1alpha1",
		"kind":       "ActionSet",
		"metadata":   map[string]any{"generateName": "backup-", "namespace": ns},
		"spec":       map[string]any{"actions": []any{action}},
	}}
}

func TestActionSetStrictValidation(t *testing.T) {
	k := Kube(t)
	ns := k.Namespace(t, "kanister")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	strict := metav1.CreateOptions{FieldValidation: "Strict"}
	good := map[string]any{
		"name":      "backup",
		"blueprint": "pvc-bp",
		"object":    map[string]any{"kind": "pvc", "name": "data", "namespace": "ml"},
		"options":   map[string]any{"run": "1"},
	}
	created, err := k.Dynamic.Resource(actionSetGVR).Namespace(ns).Create(ctx, actionSet(ns, good), strict)
	if err != nil {
		t.Fatalf("valid ActionSet rejected: %v", err)
	}
	if created.GetName() == "" || !strings.HasPrefix(created.GetName(), "backup-") {
		t.Fatalf("generated name = %q", created.GetName())
	}

	typo := map[string]any{
		"name":     "backup",
		"blueprnt": "pvc-bp",
		"object":   map[string]any{"kind": "pvc", "name": "data", "namespace": "ml"},
	}
	_, err = k.Dynamic.Resource(actionSetGVR).Namespace(ns).Create(ctx, actionSet(ns, typo), strict)
	if err == nil {
		t.Fatal("ActionSet with misspelled field accepted under strict field validation")
	}
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "spec.actions[0].blueprnt"`) {
		t.Fatalf("want the server's unknown-field error, got: %v", err)
	}

	notString := map[string]any{
		"name":    "backup",
		"object":  map[string]any{"kind": "pvc", "name": "data", "namespace": "ml"},
		"options": map[string]any{"epochs": int64(3)},
	}
	_, err = k.Dynamic.Resource(actionSetGVR).Namespace(ns).Create(ctx, actionSet(ns, notString), strict)
	if !apierrors.IsInvalid(err) {
		t.Fatalf("non-string option: want 422 Invalid, got: %v", err)
	}
}
