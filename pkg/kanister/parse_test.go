package kanister

import (
	"errors"
	"net"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mlstate/mlstate/pkg/exitcode"
)

func TestParseObject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    ObjectRef
		wantErr string
	}{
		{in: "statefulset/ml/trainer", want: ObjectRef{Kind: "statefulset", Namespace: "ml", Name: "trainer"}},
		{in: "StatefulSet/ml/trainer", want: ObjectRef{Kind: "statefulset", Namespace: "ml", Name: "trainer"}},
		{in: "pvc/ml/checkpoints", want: ObjectRef{Kind: "pvc", Namespace: "ml", Name: "checkpoints"}},
		{in: "deployment/ml/api", want: ObjectRef{Kind: "deployment", Namespace: "ml", Name: "api"}},
		{in: "deploymentconfig/ml/api", want: ObjectRef{Kind: "deploymentconfig", Namespace: "ml", Name: "api"}},
		{in: "namespace/ml", want: ObjectRef{Kind: "namespace", Namespace: "ml", Name: "ml"}},
		{in: "namespace/ml/ml", want: ObjectRef{Kind: "namespace", Namespace: "ml", Name: "ml"}},
		{in: "apps/v1/replicasets/ml/rs", want: ObjectRef{Group: "apps", APIVersion: "v1", Resource: "replicasets", Namespace: "ml", Name: "rs"}},
		{in: "v1/configmaps/ml/cfg", want: ObjectRef{APIVersion: "v1", Resource: "configmaps", Namespace: "ml", Name: "cfg"}},
		{in: "PersistentVolumeClaim/ml/data", wantErr: "use pvc"},
		{in: "persistentvolumeclaims/ml/data", wantErr: "use pvc"},
		{in: "statefulsets/ml/trainer", wantErr: "singular kind statefulset"},
		{in: "pod/ml/x", wantErr: "unknown kind"},
		{in: "pvc/ml", wantErr: "want pvc/NAMESPACE/NAME"},
		{in: "namespace/a/b", wantErr: "namespace/NAME"},
		{in: "pvc//data", wantErr: "empty part"},
		{in: "pvc/ML/data", wantErr: "namespace \"ML\""},
		{in: "pvc/ml/Data_1", wantErr: "name \"Data_1\""},
		{in: "trainer", wantErr: "want KIND/NAMESPACE/NAME"},
		{in: "a/b/c/d/e/f", wantErr: "want KIND/NAMESPACE/NAME"},
	}
	for _, tc := range cases {
		got, err := ParseObject(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || exitcode.Of(err) != exitcode.Usage {
				t.Errorf("ParseObject(%q) error = %v, want a usage error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseObject(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParseObject(got.String()); err != nil || back != got {
			t.Errorf("ParseObject(%q.String()=%q) = %+v, %v; want a round trip", tc.in, got.String(), back, err)
		}
	}
}

func TestParseProfileAndOptions(t *testing.T) {
	t.Parallel()
	if p, err := ParseProfile("kanister/s3"); err != nil || p != (ObjectRef{Name: "s3", Namespace: "kanister"}) {
		t.Errorf("ParseProfile = %+v, %v", p, err)
	}
	for _, bad := range []string{"s3", "/s3", "kanister/", "a/b/c", "Kan/s3"} {
		if _, err := ParseProfile(bad); exitcode.Of(err) != exitcode.Usage {
			t.Errorf("ParseProfile(%q) = %v, want a usage error", bad, err)
		}
	}
	opts, err := ParseOptions([]string{"run=1", "expr=a=b", "empty="})
	if err != nil || opts["run"] != "1" || opts["expr"] != "a=b" || opts["empty"] != "" || len(opts) != 3 {
		t.Errorf("ParseOptions = %v, %v", opts, err)
	}
	for _, bad := range [][]string{{"novalue"}, {"=v"}, {"a=1", "a=2"}} {
		if _, err := ParseOptions(bad); exitcode.Of(err) != exitcode.Usage {
			t.Errorf("ParseOptions(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	a := Name("uid-1", "node-1", "backup")
	if a != Name("uid-1", "node-1", "backup") {
		t.Fatal("Name is not deterministic")
	}
	distinct := map[string]bool{a: true}
	for _, n := range []string{Name("uid-2", "node-1", "backup"), Name("uid-1", "node-2", "backup"), Name("uid-1", "node-1", "restore")} {
		if distinct[n] {
			t.Fatalf("name %s collides", n)
		}
		distinct[n] = true
	}
	long := Name("u", "n", strings.Repeat("Very_Long.Action ", 10))
	for n := range distinct {
		for _, name := range []string{n, long} {
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 || len(name) > 57 || !strings.HasPrefix(name, "mlstate-") {
				t.Errorf("Name %q: %v", name, errs)
			}
		}
	}
	if Name("u", "wf.train.snapshot(0)", "backup") != Name("u", "wf.train.snapshot(3)", "backup") {
		t.Error("retry attempts (node names ending in (N)) should share the name")
	}
	if Name("", "node", "backup") != "" || Name("uid", "", "backup") != "" {
		t.Error("Name without workflow UID or node ID should be empty (use GenerateName)")
	}
	if g := GenerateName("Back Up"); g != "mlstate-back-up-" {
		t.Errorf("GenerateName = %q", g)
	}
}

func TestRestoreActionCopiesLikeKanctl(t *testing.T) {
	t.Parallel()
	rec := RecordedAction{
		ActionSet: "kanister/mlstate-backup-1", Name: "backup", Blueprint: "bp",
		Object:    ObjectRef{Kind: "pvc", Name: "data", Namespace: "ml"},
		Profile:   &ObjectRef{Name: "s3", Namespace: "kanister"},
		Secrets:   map[string]ObjectRef{"key": {Name: "k", Namespace: "ml"}},
		Options:   map[string]string{"run": "1", "mode": "full"},
		Artifacts: map[string]Artifact{"vol": {KeyValue: map[string]string{"backupTag": "t1"}}},
	}
	got := RestoreAction(rec, "restore", WithOptions(map[string]string{"mode": "fast"}), WithPodLabels(map[string]string{"a": "b"}))
	if got.Name != "restore" || got.Blueprint != "bp" || got.Object != rec.Object || got.Profile.Name != "s3" ||
		got.Artifacts["vol"].KeyValue["backupTag"] != "t1" || got.Secrets["key"].Name != "k" ||
		got.Options["run"] != "1" || got.Options["mode"] != "fast" || got.PodLabels["a"] != "b" {
		t.Fatalf("RestoreAction = %+v", got)
	}
	got.Artifacts["vol"].KeyValue["backupTag"] = "changed"
	got.Options["run"] = "changed"
	got.Profile.Name = "changed"
	if rec.Artifacts["vol"].KeyValue["backupTag"] != "t1" || rec.Options["run"] != "1" || rec.Profile.Name != "s3" {
		t.Fatal("RestoreAction shares maps or pointers with the record")
	}
	if del := RestoreAction(rec, "", WithBlueprint("bp2"), WithObject(ObjectRef{Kind: "namespace", Name: "ml", Namespace: "ml"})); del.Name != "backup" || del.Blueprint != "bp2" || del.Object.Kind != "namespace" {
		t.Fatalf("RestoreAction with overrides = %+v", del)
	}
}

func TestBuildObjectRejectsBadInput(t *testing.T) {
	t.Parallel()
	good := ActionSpec{Name: "backup", Blueprint: "bp", Object: ObjectRef{Kind: "pvc", Name: "d", Namespace: "ml"}}
	labels := map[string]string{LabelPipeline: "train"}
	cases := map[string]Request{
		"no actions":    {Labels: labels},
		"no blueprint":  {Labels: labels, Actions: []ActionSpec{{Name: "backup", Object: good.Object}}},
		"no object":     {Labels: labels, Actions: []ActionSpec{{Name: "backup", Blueprint: "bp"}}},
		"no pipeline":   {Actions: []ActionSpec{good}},
		"bad label":     {Labels: map[string]string{LabelPipeline: "has space"}, Actions: []ActionSpec{good}},
		"bad label key": {Labels: map[string]string{LabelPipeline: "p", "a b": "c"}, Actions: []ActionSpec{good}},
	}
	c := &Client{}
	for name, req := range cases {
		if _, err := c.buildObject(req); exitcode.Of(err) != exitcode.Usage {
			t.Errorf("%s: got %v, want a usage error", name, err)
		}
	}
	obj, err := c.buildObject(Request{Labels: labels, Actions: []ActionSpec{good}})
	if err != nil || obj.GetNamespace() != "kanister" || obj.GetGenerateName() != "mlstate-" || obj.GetLabels()[LabelJobID] == "" {
		t.Fatalf("buildObject = %v, %v; want namespace kanister, generateName and a JobID", obj, err)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: Group, Resource: "actionsets"}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"forbidden", apierrors.NewForbidden(gr, "x", errors.New("no")), exitcode.Permission},
		{"unauthorized", apierrors.NewUnauthorized("who"), exitcode.Permission},
		{"namespace missing", apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "kanister"), exitcode.Precondition},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), exitcode.Transient},
		{"5xx", apierrors.NewInternalError(errors.New("etcd")), exitcode.Transient},
		{"unavailable", apierrors.NewServiceUnavailable("later"), exitcode.Transient},
		{"timeout", apierrors.NewTimeoutError("slow", 1), exitcode.Transient},
		{"unreachable", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, exitcode.Transient},
		{"invalid", apierrors.NewBadRequest("strict decoding error"), exitcode.Usage},
		{"no CRD", apierrors.NewNotFound(schema.GroupResource{Group: Group, Resource: "actionsets"}, ""), exitcode.Precondition},
		{"exists", apierrors.NewAlreadyExists(gr, "x"), exitcode.Conflict},
	}
	for _, tc := range cases {
		if got := exitcode.Of(classify(tc.err, "create", "actionsets."+Group, "kanister", "")); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}
