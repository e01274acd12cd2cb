package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	yamlv3 "gopkg.in/yaml.v3"
)

// declared is one resource the program registered.
type declared struct {
	typ, name string
	inputs    resource.PropertyMap
}

// mocks records resources and decodes YAML the way the Kubernetes
// provider's kubernetes:yaml:decode function does.
type mocks struct {
	mu  sync.Mutex
	res []declared
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.res = append(m.res, declared{args.TypeToken, args.Name, args.Inputs})
	m.mu.Unlock()
	return args.Name + "-id", args.Inputs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	if args.Token != "kubernetes:yaml:decode" {
		return nil, errors.New("unexpected call " + args.Token)
	}
	dec := yamlv3.NewDecoder(strings.NewReader(args.Args["text"].StringValue()))
	var objs []any
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return resource.NewPropertyMapFromMap(map[string]any{"result": objs}), nil
}

func (m *mocks) find(typ, name string) (declared, bool) {
	for _, r := range m.res {
		if r.typ == typ && (name == "" || r.name == name) {
			return r, true
		}
	}
	return declared{}, false
}

func run(t *testing.T, cfg map[string]string) *mocks {
	t.Helper()
	full := map[string]string{
		"mlstate:minioEndpoint":  "http://minio.minio.svc:9000",
		"mlstate:minioAccessKey": "test-access",
		"mlstate:minioSecretKey": "test-secret",
		"mlstate:resticKey":      "test-restic-key",
	}
	for k, v := range cfg {
		full["mlstate:"+k] = v
	}
	b, _ := json.Marshal(full)
	t.Setenv("PULUMI_CONFIG", string(b))
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", `["mlstate:minioAccessKey","mlstate:minioSecretKey","mlstate:resticKey"]`)
	m := &mocks{}
	err := pulumi.RunErr(deploy, pulumi.WithMocks("mlstate", "test", m))
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return m
}

// str reads a nested string input, e.g. str(r.inputs, "metadata", "namespace").
func str(pm resource.PropertyMap, path ...string) string {
	v := resource.NewObjectProperty(pm)
	for _, p := range path {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return ""
		}
		v = v.ObjectValue()[resource.PropertyKey(p)]
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

func TestDeclaredResources(t *testing.T) {
	m := run(t, nil)
	tests := []struct {
		typ, name string
		check     func(declared) string // "" when fine
	}{
		{"kubernetes:core/v1:Namespace", "ml", nil},
		{"kubernetes:core/v1:Namespace", "kanister", nil},
		{"kubernetes:helm.sh/v3:Release", "kanister", func(r declared) string {
			if str(r.inputs, "chart") != "kanister-operator" || str(r.inputs, "namespace") != "kanister" {
				return "want chart kanister-operator in namespace kanister"
			}
			if !strings.Contains(str(r.inputs, "repositoryOpts", "repo"), "charts.kanister.io") {
				return "want the Kanister chart repository"
			}
			return ""
		}},
		{"kubernetes:cr.kanister.io/v1alpha1:Profile", "mlstate-minio", func(r declared) string {
			if got := str(r.inputs, "location", "endpoint"); got != "http://minio.minio.svc:9000" {
				return "endpoint = " + got
			}
			if got := str(r.inputs, "credential", "keyPair", "secret", "name"); got != "mlstate-minio-credentials" {
				return "credential secret = " + got
			}
			return ""
		}},
		{"kubernetes:core/v1:Secret", "kanister-mlstate-restic-key", func(r declared) string {
			if !r.inputs["stringData"].ContainsSecrets() {
				return "the restic key must stay a Pulumi secret"
			}
			return ""
		}},
		{"kubernetes:core/v1:Secret", "kanister-mlstate-minio-credentials", nil},
		{"kubernetes:core/v1:Secret", "ml-mlstate-store", nil},
		{"kubernetes:yaml:ConfigGroup", "mlstate", nil},
		{"kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "ml/mlstate", nil},
		{"kubernetes:cr.kanister.io/v1alpha1:Blueprint", "kanister/mlstate-pvc", nil},
		{"kubernetes:cr.kanister.io/v1alpha1:Blueprint", "kanister/mlstate-csi", nil},
		{"kubernetes:core/v1:ServiceAccount", "ml/mlstate", nil},
		{"kubernetes:rbac.authorization.k8s.io/v1:Role", "kanister/mlstate-kanister", nil},
		{"kubernetes:core/v1:PersistentVolumeClaim", "checkpoints", nil},
		{"kubernetes:core/v1:ConfigMap", "ml/mlstate", nil},
	}
	for _, tc := range tests {
		r, ok := m.find(tc.typ, tc.name)
		if !ok {
			t.Errorf("no %s %s declared", tc.typ, tc.name)
			continue
		}
		if tc.check != nil {
			if msg := tc.check(r); msg != "" {
				t.Errorf("%s %s: %s", tc.typ, tc.name, msg)
			}
		}
	}
	// The RWO checkpoints PVC must not be held by a long-running pod: it
	// would keep training and Kanister's pods off every other node.
	if _, ok := m.find("kubernetes:apps/v1:Deployment", ""); ok {
		t.Error("a Deployment is declared; nothing may keep the RWO checkpoints PVC mounted")
	}
	for _, r := range m.res {
		if strings.HasPrefix(r.typ, "kubernetes:rbac.authorization.k8s.io/v1:Cluster") {
			t.Errorf("cluster-wide RBAC declared: %s %s", r.typ, r.name)
		}
	}
}

// The configured namespaces replace the repository's, in objects and in
// the ServiceAccounts RoleBindings name.
func TestNamespacesFromConfig(t *testing.T) {
	m := run(t, map[string]string{"appNamespace": "team-a", "kanisterNamespace": "kanister-system"})
	if _, ok := m.find("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "team-a/mlstate"); !ok {
		t.Error("the WorkflowTemplate was not moved to team-a")
	}
	rb, ok := m.find("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kanister-system/mlstate-kanister")
	if !ok {
		t.Fatal("the Kanister RoleBinding was not moved to kanister-system")
	}
	b, _ := json.Marshal(rb.inputs["subjects"].Mappable())
	if !bytes.Contains(b, []byte(`"namespace":"team-a"`)) {
		t.Errorf("RoleBinding subjects still name the old namespace: %s", b)
	}
	for _, r := range m.res {
		if ns := str(r.inputs, "metadata", "namespace"); ns == "ml" || ns == "kanister" {
			t.Errorf("%s %s left in namespace %s", r.typ, r.name, ns)
		}
	}
}

// The templates' parameter defaults and the mlstate ConfigMap follow the
// configuration too: a moved install must not point at kanister/... or the
// default store.
func TestDefaultsFollowTheConfig(t *testing.T) {
	m := run(t, map[string]string{"appNamespace": "team-a", "kanisterNamespace": "kanister-system", "storeBucket": "team-a-store"})
	wt, ok := m.find("kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "team-a/mlstate")
	if !ok {
		t.Fatal("no WorkflowTemplate team-a/mlstate")
	}
	b, _ := json.Marshal(wt.inputs["spec"].Mappable())
	for _, want := range []string{`"default":"kanister-system"`, `"default":"mlstate-stage"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("WorkflowTemplate defaults lack %s", want)
		}
	}
	if bytes.Contains(b, []byte(`"kanister/`)) || bytes.Contains(b, []byte(`=kanister/`)) {
		t.Error("a WorkflowTemplate default still names namespace kanister")
	}
	cm, ok := m.find("kubernetes:core/v1:ConfigMap", "team-a/mlstate")
	if !ok {
		t.Fatal("no ConfigMap team-a/mlstate")
	}
	if got := str(cm.inputs, "data", "store"); got != "s3://team-a-store?endpoint=http://minio.minio.svc:9000" {
		t.Errorf("ConfigMap store = %q, want the stack's store URL", got)
	}
}

func TestRenamespaceRefs(t *testing.T) {
	to := map[string]string{"kanister": "k2", "ml": "team-a"}
	for in, want := range map[string]string{
		"kanister":               "k2",
		"kanister/mlstate-minio": "k2/mlstate-minio",
		"encryptionKey=kanister/mlstate-restic-key": "encryptionKey=k2/mlstate-restic-key",
		"a=ml/x,b=kanister/y":                       "a=team-a/x,b=k2/y",
		"mlstate-restic-key":                        "mlstate-restic-key",
		"pvc/ml/checkpoints":                        "pvc/ml/checkpoints",
	} {
		if got := renamespaceRefs(in, to); got != want {
			t.Errorf("renamespaceRefs(%q) = %q, want %q", in, got, want)
		}
	}
}
