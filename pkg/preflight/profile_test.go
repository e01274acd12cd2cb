package preflight_test

import (
	"context"
	"testing"

	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/preflight"
	"github.com/mlstate/mlstate/pkg/preflight/preflighttest"
)

func TestProfileBroken(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// arrange creates a Profile "p" (or not) and returns its name.
		arrange       func(t *testing.T, e *preflighttest.Env) string
		id            string
		detail        string
		advice        string
		bucketChecked bool
	}{
		{"profile missing", func(t *testing.T, e *preflighttest.Env) string { return "never-created" },
			"profile", "profile %NS%/never-created not found", "kanctl create profile s3compliant", false},
		{"secret missing", func(t *testing.T, e *preflighttest.Env) string {
			body := e.ProfileObject(e.Bucket, e.MinIO.URL, "us-east-1")
			body["credential"].(map[string]any)["keyPair"].(map[string]any)["secret"].(map[string]any)["name"] = "gone"
			e.ApplyProfile(ctx, t, "p", body)
			return "p"
		}, "profile", "credential secret %NS%/gone not found", "kubectl -n %NS% create secret generic gone --from-literal=aws_access_key_id=", false},
		{"key missing", func(t *testing.T, e *preflighttest.Env) string {
			e.CreateSecret(ctx, t, e.Namespace, "half", map[string]string{"aws_access_key_id": e.MinIO.AccessKey})
			body := e.ProfileObject(e.Bucket, e.MinIO.URL, "us-east-1")
			body["credential"].(map[string]any)["keyPair"].(map[string]any)["secret"].(map[string]any)["name"] = "half"
			e.ApplyProfile(ctx, t, "p", body)
			return "p"
		}, "profile", "secret %NS%/half has no (or an empty) key aws_secret_access_key named by the Profile", "or name the right keys in the Profile's keyPair.idField/secretField", false},
		{"wrong credentials", func(t *testing.T, e *preflighttest.Env) string {
			e.CreateSecret(ctx, t, e.Namespace, "wrong", map[string]string{"aws_access_key_id": e.MinIO.AccessKey, "aws_secret_access_key": "not-the-key"})
			body := e.ProfileObject(e.Bucket, e.MinIO.URL, "us-east-1")
			body["credential"].(map[string]any)["keyPair"].(map[string]any)["secret"].(map[string]any)["name"] = "wrong"
			e.ApplyProfile(ctx, t, "p", body)
			return "p"
		}, "bucket", "rejects the Profile's credentials", "put valid keys into the Profile's credential Secret", true},
		{"bucket missing", func(t *testing.T, e *preflighttest.Env) string {
			e.ApplyProfile(ctx, t, "p", e.ProfileObject("no-such-bucket", e.MinIO.URL, "us-east-1"))
			return "p"
		}, "bucket", `bucket "no-such-bucket" at ` + "%ENDPOINT% does not exist", "create the bucket (mc mb ALIAS/no-such-bucket)", true},
		{"wrong region", func(t *testing.T, e *preflighttest.Env) string {
			e.ApplyProfile(ctx, t, "p", e.ProfileObject(e.Bucket, e.MinIO.URL, "eu-west-3"))
			return "p"
		}, "bucket", "is in region us-east-1, but the Profile says eu-west-3", "set location.region: us-east-1 in profile %NS%/p", true},
		{"endpoint unreachable", func(t *testing.T, e *preflighttest.Env) string {
			e.ApplyProfile(ctx, t, "p", e.ProfileObject(e.Bucket, "http://127.0.0.1:1", "us-east-1"))
			return "p"
		}, "bucket", `bucket "%BUCKET%" at 127.0.0.1:1`, "check location.endpoint and that the object store is reachable", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, opts := setup(t)
			opts.Profile = &kanister.ObjectRef{Namespace: e.Namespace, Name: tc.arrange(t, e)}
			list := run(t, opts)
			expand := func(s string) string {
				return replaceAll(s, "%NS%", e.Namespace, "%ENDPOINT%", e.MinIO.Endpoint, "%BUCKET%", e.Bucket)
			}
			expect(t, list, tc.id, preflight.Broken, expand(tc.detail), expand(tc.advice))
			if !tc.bucketChecked {
				expect(t, list, "bucket", preflight.Warning, "not checked", "fix the Profile line first")
			}
			others(t, list, "profile", "bucket")
			assertNothingLeft(t, e.MinIO.Client, e.Bucket, e.StoreURL, e.Getenv)
		})
	}
}
