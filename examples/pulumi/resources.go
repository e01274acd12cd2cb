package main

import (
	"path/filepath"
	"regexp"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/yaml"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

var labels = pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("mlstate")}

func namespaces(ctx *pulumi.Context, cfg Config) ([]pulumi.Resource, error) {
	var out []pulumi.Resource
	for _, name := range []string{cfg.AppNamespace, cfg.KanisterNamespace} {
		ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Labels: labels},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, nil
}

// kanisterOperator installs Kanister's Helm chart (with its CRDs and its
// Blueprint admission webhook) into the Kanister namespace.
func kanisterOperator(ctx *pulumi.Context, cfg Config, nss []pulumi.Resource) (*helmv3.Release, error) {
	return helmv3.NewRelease(ctx, "kanister", &helmv3.ReleaseArgs{
		Name:      pulumi.String("kanister"), // the ServiceAccount becomes kanister-kanister-operator (see rbac.yaml)
		Chart:     pulumi.String("kanister-operator"),
		Version:   pulumi.String(cfg.KanisterVersion),
		Namespace: pulumi.String(cfg.KanisterNamespace),
		RepositoryOpts: &helmv3.RepositoryOptsArgs{
			Repo: pulumi.String("https://charts.kanister.io/"),
		},
		Values: pulumi.Map{
			"bpValidatingWebhook": pulumi.Map{"enabled": pulumi.Bool(true)},
		},
		Atomic: pulumi.Bool(true),
	}, pulumi.DependsOn(nss))
}

// secretRes are the Secrets the Profile, the Blueprints and the steps read.
type secretRes struct{ minio, restic, store *corev1.Secret }

func secrets(ctx *pulumi.Context, cfg Config, nss []pulumi.Resource) (secretRes, error) {
	var s secretRes
	var err error
	keyPair := pulumi.StringMap{"aws_access_key_id": cfg.MinioAccessKey, "aws_secret_access_key": cfg.MinioSecretKey}
	mk := func(name, ns string, data pulumi.StringMap) (*corev1.Secret, error) {
		return corev1.NewSecret(ctx, ns+"-"+name, &corev1.SecretArgs{
			Metadata:   &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(ns), Labels: labels},
			Type:       pulumi.String("Opaque"),
			StringData: data,
		}, pulumi.DependsOn(nss))
	}
	if s.minio, err = mk("mlstate-minio-credentials", cfg.KanisterNamespace, keyPair); err != nil {
		return s, err
	}
	if s.restic, err = mk("mlstate-restic-key", cfg.KanisterNamespace, pulumi.StringMap{"key": cfg.ResticKey}); err != nil {
		return s, err
	}
	s.store, err = mk("mlstate-store", cfg.AppNamespace, keyPair)
	return s, err
}

// minioProfile is the Kanister Profile the mlstate templates name by
// default (kanister/mlstate-minio).
func minioProfile(ctx *pulumi.Context, cfg Config, kanister *helmv3.Release, s secretRes) (*apiextensions.CustomResource, error) {
	return apiextensions.NewCustomResource(ctx, "mlstate-minio", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cr.kanister.io/v1alpha1"),
		Kind:       pulumi.String("Profile"),
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String("mlstate-minio"), Namespace: pulumi.String(cfg.KanisterNamespace), Labels: labels,
		},
		OtherFields: kubernetes.UntypedArgs{
			"location": pulumi.Map{
				"type":     pulumi.String("s3Compliant"),
				"bucket":   pulumi.String(cfg.KanisterBucket),
				"endpoint": pulumi.String(cfg.MinioEndpoint),
				"region":   pulumi.String("us-east-1"),
			},
			"credential": pulumi.Map{
				"type": pulumi.String("keyPair"),
				"keyPair": pulumi.Map{
					"idField":     pulumi.String("aws_access_key_id"),
					"secretField": pulumi.String("aws_secret_access_key"),
					"secret": pulumi.Map{
						"apiVersion": pulumi.String("v1"), "kind": pulumi.String("Secret"),
						"name": s.minio.Metadata.Name().Elem(), "namespace": pulumi.String(cfg.KanisterNamespace),
					},
				},
			},
			"skipSSLVerify": pulumi.Bool(false),
		},
	}, pulumi.DependsOn([]pulumi.Resource{kanister}))
}

// manifestFiles are the repository's files `kubectl apply -k
// workflowtemplates/` installs.
var manifestFiles = []string{
	"workflowtemplates/workflowtemplate.yaml",
	"workflowtemplates/rbac.yaml",
	"workflowtemplates/config.yaml",
	"workflowtemplates/blueprints/pvc.yaml",
	"workflowtemplates/blueprints/csi.yaml",
	"workflowtemplates/blueprints/stage.yaml",
}

// mlstateManifests applies the repository's own YAML, moved into the
// configured namespaces.
func mlstateManifests(ctx *pulumi.Context, cfg Config, kanister *helmv3.Release, nss []pulumi.Resource) (*yaml.ConfigGroup, error) {
	files := make([]string, len(manifestFiles))
	for i, f := range manifestFiles {
		files[i] = filepath.Join(cfg.RepoRoot, f)
	}
	return yaml.NewConfigGroup(ctx, "mlstate", &yaml.ConfigGroupArgs{
		Files: files,
		Transformations: []yaml.Transformation{
			renamespace(map[string]string{"ml": cfg.AppNamespace, "kanister": cfg.KanisterNamespace}),
			storeURL(cfg.StoreURL()),
		},
	}, pulumi.DependsOn(append([]pulumi.Resource{kanister}, nss...)))
}

// renamespace moves objects (and the ServiceAccounts RoleBindings name)
// from the repository's namespaces to the configured ones. The templates'
// parameter defaults name namespaces too (kanister-namespace kanister, and
// any profile or secrets default given as NAMESPACE/NAME), and so do RBAC
// rules that name objects as NAMESPACE/NAME.
func renamespace(to map[string]string) yaml.Transformation {
	move := func(m map[string]any) {
		if ns, ok := m["namespace"].(string); ok && to[ns] != "" {
			m["namespace"] = to[ns]
		}
	}
	return func(obj map[string]any, _ ...pulumi.ResourceOption) {
		if meta, ok := obj["metadata"].(map[string]any); ok {
			move(meta)
		}
		if subjects, ok := obj["subjects"].([]any); ok {
			for _, s := range subjects {
				if m, ok := s.(map[string]any); ok {
					move(m)
				}
			}
		}
		if rules, ok := obj["rules"].([]any); ok {
			for _, r := range rules {
				if m, ok := r.(map[string]any); ok {
					if names, ok := m["resourceNames"].([]any); ok {
						for i, n := range names {
							if s, ok := n.(string); ok {
								names[i] = renamespaceRefs(s, to)
							}
						}
					}
				}
			}
		}
		spec, _ := obj["spec"].(map[string]any)
		templates, _ := spec["templates"].([]any)
		for _, t := range templates {
			tm, _ := t.(map[string]any)
			inputs, _ := tm["inputs"].(map[string]any)
			params, _ := inputs["parameters"].([]any)
			for _, p := range params {
				pm, _ := p.(map[string]any)
				if d, ok := pm["default"].(string); ok {
					pm["default"] = renamespaceRefs(d, to)
				}
			}
		}
	}
}

// nsRef finds NAMESPACE/ at the start of a value or of a list item (after
// "," or "="), e.g. kanister/mlstate-minio or encryptionKey=kanister/key.
var nsRef = regexp.MustCompile(`(^|[,=])([a-z0-9][a-z0-9-]*)/`)

// renamespaceRefs rewrites the namespaces a value names: a value that is
// only a namespace, and every NAMESPACE/NAME reference in it.
func renamespaceRefs(v string, to map[string]string) string {
	if ns, ok := to[v]; ok && ns != "" {
		return ns
	}
	return nsRef.ReplaceAllStringFunc(v, func(m string) string {
		sub := nsRef.FindStringSubmatch(m)
		if ns, ok := to[sub[2]]; ok && ns != "" {
			return sub[1] + ns + "/"
		}
		return m
	})
}

// storeURL sets the store URL of the `mlstate` ConfigMap, which the
// templates read when a Workflow passes no store.
func storeURL(url string) yaml.Transformation {
	return func(obj map[string]any, _ ...pulumi.ResourceOption) {
		meta, _ := obj["metadata"].(map[string]any)
		if obj["kind"] != "ConfigMap" || meta["name"] != "mlstate" {
			return
		}
		data, _ := obj["data"].(map[string]any)
		if data == nil {
			data = map[string]any{}
			obj["data"] = data
		}
		data["store"] = url
	}
}

// exampleApp is a stand-in ML app: the PVC of checkpoints the examples
// back up as pvc/<appNamespace>/checkpoints. Nothing keeps it mounted: it
// is ReadWriteOnce, so a pod holding it on one node would keep the training
// pod and Kanister's backup and restore pods off every other node.
func exampleApp(ctx *pulumi.Context, cfg Config, nss []pulumi.Resource) error {
	appLabels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("checkpoints"), "app.kubernetes.io/part-of": pulumi.String("mlstate-example")}
	_, err := corev1.NewPersistentVolumeClaim(ctx, "checkpoints", &corev1.PersistentVolumeClaimArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("checkpoints"), Namespace: pulumi.String(cfg.AppNamespace), Labels: appLabels},
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String("10Gi")}},
		},
	}, pulumi.DependsOn(nss))
	return err
}
