package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlstate/mlstate/pkg/blueprint"
	"github.com/mlstate/mlstate/pkg/kanister"
)

// profileDoc is the part of a Profile preflight reads (contract §4; the
// fields sit at the top level, there is no spec).
type profileDoc struct {
	Location struct {
		Type     string `json:"type"`
		Bucket   string `json:"bucket"`
		Endpoint string `json:"endpoint"`
		Prefix   string `json:"prefix"`
		Region   string `json:"region"`
	} `json:"location"`
	Credential struct {
		Type    string `json:"type"`
		KeyPair *struct {
			IDField     string             `json:"idField"`
			SecretField string             `json:"secretField"`
			Secret      kanister.ObjectRef `json:"secret"`
		} `json:"keyPair"`
		Secret *kanister.ObjectRef `json:"secret"`
	} `json:"credential"`
	SkipSSLVerify bool `json:"skipSSLVerify"`
}

// Kanister's typed AWS Secret (credential.type: secret).
const (
	awsSecretType = "secrets.kanister.io/aws"
	awsKeyID      = "aws_access_key_id"
	awsSecretKey  = "aws_secret_access_key"
)

// checkProfile yields two lines: the Profile and its credential Secret, then
// its bucket (see checkBucket), which needs what the first one read.
func checkProfile(ctx context.Context, r *runner) []Check {
	const id, name = "profile", "Profile"
	p := r.opts.Profile
	if p == nil && !r.blueprintNeedsProfile(ctx) {
		return []Check{
			ok(id, name, "not used: blueprint %s needs no Profile", r.opts.Blueprint),
			ok("bucket", "Profile bucket", "not used: no --profile"),
		}
	}
	if p == nil {
		return []Check{
			warn(id, name, "pass --profile NAMESPACE/NAME unless the Blueprint moves no data (CopyVolumeData, BackupData, RestoreData and DeleteData fail with \"Profile must be non-nil\")",
				"no --profile given"),
			ok("bucket", "Profile bucket", "not used: no --profile"),
		}
	}
	where := p.Namespace + "/" + p.Name
	skipBucket := func(why string) Check {
		return warn("bucket", "Profile bucket", "fix the Profile line first", "not checked: %s", why)
	}
	u, err := r.kube.dyn.Resource(kanister.ProfileGVR).Namespace(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return []Check{broken(id, name,
			fmt.Sprintf("create it, e.g. kanctl create profile s3compliant --namespace %s --bucket BUCKET --endpoint URL --region REGION --access-key ... --secret-key ..., or fix --profile", p.Namespace),
			"profile %s not found", where), skipBucket("no Profile")}
	case apierrors.IsForbidden(err):
		return []Check{notAllowed(id, name, "get profiles in namespace "+p.Namespace), skipBucket("Profile not readable")}
	case err != nil:
		return []Check{broken(id, name, adviceKubeconfig, "get profile %s: %v", where, err), skipBucket("Profile not readable")}
	}
	var doc profileDoc
	if err := roundTrip(u.Object, &doc); err != nil {
		return []Check{broken(id, name, "re-create the Profile", "profile %s: %v", where, err), skipBucket("Profile unreadable")}
	}
	ref, idKey, secretKey, problem := credentialRef(doc)
	if problem != "" {
		return []Check{broken(id, name, "fix the Profile's credential section (contract: keyPair with idField, secretField and a Secret reference with namespace)",
			"profile %s: %s", where, problem), skipBucket("no usable credentials")}
	}
	sec, err := r.kube.kube.CoreV1().Secrets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return []Check{broken(id, name,
			fmt.Sprintf("create it: kubectl -n %s create secret generic %s --from-literal=%s=... --from-literal=%s=...", ref.Namespace, ref.Name, idKey, secretKey),
			"profile %s: credential secret %s/%s not found", where, ref.Namespace, ref.Name), skipBucket("no credentials")}
	case apierrors.IsForbidden(err):
		return []Check{notAllowed(id, name, fmt.Sprintf("get secret %s/%s", ref.Namespace, ref.Name)), skipBucket("credentials not readable")}
	case err != nil:
		return []Check{broken(id, name, adviceKubeconfig, "get secret %s/%s: %v", ref.Namespace, ref.Name, err), skipBucket("credentials not readable")}
	}
	if problem := secretProblem(doc, sec, idKey, secretKey); problem != "" {
		return []Check{broken(id, name,
			fmt.Sprintf("put the keys into secret %s/%s (kubectl -n %s edit secret %s) or name the right keys in the Profile's keyPair.idField/secretField", ref.Namespace, ref.Name, ref.Namespace, ref.Name),
			"profile %s: secret %s/%s %s", where, ref.Namespace, ref.Name, problem), skipBucket("no credentials")}
	}
	line := ok(id, name, "profile %s (%s, bucket %q) with credentials in secret %s/%s keys %s, %s",
		where, doc.Location.Type, doc.Location.Bucket, ref.Namespace, ref.Name, idKey, secretKey)
	return []Check{line, checkBucket(ctx, r, where, doc, string(sec.Data[idKey]), string(sec.Data[secretKey]))}
}

// credentialRef returns the Secret holding the Profile's key pair and the
// key names inside it, or what is wrong.
func credentialRef(doc profileDoc) (ref kanister.ObjectRef, idKey, secretKey, problem string) {
	c := doc.Credential
	switch c.Type {
	case "keyPair":
		kp := c.KeyPair
		if kp == nil {
			return ref, "", "", "credential.type is keyPair but credential.keyPair is missing"
		}
		var missing []string
		if kp.IDField == "" {
			missing = append(missing, "keyPair.idField")
		}
		if kp.SecretField == "" {
			missing = append(missing, "keyPair.secretField")
		}
		if kp.Secret.Name == "" {
			missing = append(missing, "keyPair.secret.name")
		}
		if kp.Secret.Namespace == "" {
			missing = append(missing, "keyPair.secret.namespace (Kanister needs it explicit)")
		}
		if len(missing) > 0 {
			return ref, "", "", "credential has no " + strings.Join(missing, ", ")
		}
		return kp.Secret, kp.IDField, kp.SecretField, ""
	case "secret":
		if c.Secret == nil || c.Secret.Name == "" || c.Secret.Namespace == "" {
			return ref, "", "", "credential.secret needs name and namespace"
		}
		return *c.Secret, awsKeyID, awsSecretKey, ""
	case "":
		return ref, "", "", "credential.type is not set (keyPair, secret or kopia)"
	}
	return ref, "", "", fmt.Sprintf("credential.type %q is not checked by preflight (keyPair or secret with an s3Compliant location are)", c.Type)
}

func secretProblem(doc profileDoc, sec *corev1.Secret, idKey, secretKey string) string {
	if doc.Credential.Type == "secret" && string(sec.Type) != awsSecretType {
		return fmt.Sprintf("has type %q; credential.type secret needs type %s", sec.Type, awsSecretType)
	}
	var missing []string
	for _, k := range []string{idKey, secretKey} {
		if len(sec.Data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "has no (or an empty) key " + strings.Join(missing, ", ") + " named by the Profile"
	}
	return ""
}

func roundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// blueprintNeedsProfile reports whether the Blueprint may need a Profile;
// when it cannot be read (the Blueprint line says why), it may.
func (r *runner) blueprintNeedsProfile(ctx context.Context) bool {
	if r.opts.Blueprint == "" {
		return true
	}
	u, err := r.blueprintObject(ctx)
	if err != nil {
		return true
	}
	bp, err := blueprint.FromUnstructured(u.Object)
	if err != nil {
		return true
	}
	return blueprint.NeedsProfile(bp)
}
