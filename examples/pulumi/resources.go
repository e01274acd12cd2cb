package main

import (
	"path/filepath"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
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
	"workflowtemplates/blueprints/pvc.yaml",
	"workflowtemplates/blueprints/csi.yaml",
}

// mlstateManifests applies the repository's own YAML, moved into the
// configured namespaces.
func mlstateManifests(ctx *pulumi.Context, cfg Config, kanister *helmv3.Release, nss []pulumi.Resource) (*yaml.ConfigGroup, error) {
	files := make([]string, len(manifestFiles))
	for i, f := range manifestFiles {
		files[i] = filepath.Join(cfg.RepoRoot, f)
	}
	return yaml.NewConfigGroup(ctx, "mlstate", &yaml.ConfigGroupArgs{
		Files:           files,
		Transformations: []yaml.Transformation{renamespace(map[string]string{"ml": cfg.AppNamespace, "kanister": cfg.KanisterNamespace})},
	}, pulumi.DependsOn(append([]pulumi.Resource{kanister}, nss...)))
}

// renamespace moves objects (and the ServiceAccounts RoleBindings name)
// from the repository's namespaces to the configured ones.
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
	}
}

// exampleApp is a stand-in ML app: a PVC of checkpoints and a small
// Deployment serving them read-only. The examples snapshot this PVC as
// pvc/<appNamespace>/checkpoints.
func exampleApp(ctx *pulumi.Context, cfg Config, nss []pulumi.Resource) error {
	appLabels := pulumi.StringMap{"app.kubernetes.io/name": pulumi.String("checkpoint-server"), "app.kubernetes.io/part-of": pulumi.String("mlstate-example")}
	pvc, err := corev1.NewPersistentVolumeClaim(ctx, "checkpoints", &corev1.PersistentVolumeClaimArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("checkpoints"), Namespace: pulumi.String(cfg.AppNamespace), Labels: appLabels},
		Spec: &corev1.PersistentVolumeClaimSpecArgs{
			AccessModes: pulumi.StringArray{pulumi.String("ReadWriteOnce")},
			Resources:   &corev1.VolumeResourceRequirementsArgs{Requests: pulumi.StringMap{"storage": pulumi.String("10Gi")}},
		},
	}, pulumi.DependsOn(nss))
	if err != nil {
		return err
	}
	_, err = appsv1.NewDeployment(ctx, "checkpoint-server", &appsv1.DeploymentArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("checkpoint-server"), Namespace: pulumi.String(cfg.AppNamespace), Labels: appLabels},
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: appLabels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: appLabels},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: &corev1.PodSecurityContextArgs{RunAsNonRoot: pulumi.Bool(true), RunAsUser: pulumi.Int(65532), FsGroup: pulumi.Int(65532)},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:    pulumi.String("server"),
						Image:   pulumi.String("busybox:1.36"),
						Command: pulumi.StringArray{pulumi.String("httpd"), pulumi.String("-f"), pulumi.String("-p"), pulumi.String("8080"), pulumi.String("-h"), pulumi.String("/checkpoints")},
						Ports:   corev1.ContainerPortArray{&corev1.ContainerPortArgs{ContainerPort: pulumi.Int(8080)}},
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("10m"), "memory": pulumi.String("16Mi")},
							Limits:   pulumi.StringMap{"memory": pulumi.String("64Mi")},
						},
						SecurityContext: &corev1.SecurityContextArgs{
							AllowPrivilegeEscalation: pulumi.Bool(false), ReadOnlyRootFilesystem: pulumi.Bool(true),
						},
						VolumeMounts: corev1.VolumeMountArray{&corev1.VolumeMountArgs{Name: pulumi.String("checkpoints"), MountPath: pulumi.String("/checkpoints"), ReadOnly: pulumi.Bool(true)}},
					}},
					Volumes: corev1.VolumeArray{&corev1.VolumeArgs{
						Name:                  pulumi.String("checkpoints"),
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: pvc.Metadata.Name().Elem()},
					}},
				},
			},
		},
	})
	return err
}
