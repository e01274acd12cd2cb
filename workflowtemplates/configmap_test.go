package workflowtemplates

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Called without store or store-secret, every template takes them from the
// namespace's `mlstate` ConfigMap, as Argo's controller resolves
// configMapKeyRef parameters; store-secret falls back to mlstate-store.
func TestStoreFromTheConfigMap(t *testing.T) {
	cm := map[string]string{"store": "s3://team-a?endpoint=https://minio.example.com", "store-secret": "team-a-store"}
	for _, tm := range mlstateTemplates(t).Spec.Templates {
		args := map[string]string{}
		for _, p := range tm.Inputs.Parameters {
			if p.Default == nil && p.ValueFrom == nil {
				args[p.Name] = "x" // required inputs other than the store's
			}
		}
		if tm.Name == "guard" {
			args["image"], args["command"] = "train:1", "true"
		}
		r := render(t, tm.Name, renderCtx{args: args, configMap: cm})
		parseStep(t, r, func(c *cli.Context) {
			if got := c.String("store"); got != cm["store"] {
				t.Errorf("template %s: store %q, want the ConfigMap's %q", tm.Name, got, cm["store"])
			}
		})
		if got := secretOf(r); got != "team-a-store" {
			t.Errorf("template %s: store credentials from Secret %q, want the ConfigMap's team-a-store", tm.Name, got)
		}
		noKey := render(t, tm.Name, renderCtx{args: args, configMap: map[string]string{"store": "file:///s"}})
		if got := secretOf(noKey); got != "mlstate-store" {
			t.Errorf("template %s: without store-secret in the ConfigMap the Secret is %q, want mlstate-store", tm.Name, got)
		}
		if _, err := tryRender(t, tm.Name, renderCtx{args: args}); err == nil || !strings.Contains(err.Error(), "ConfigMap") {
			t.Errorf("template %s: no store and no ConfigMap: got %v, want an error naming the ConfigMap", tm.Name, err)
		}
	}
}

// secretOf names the Secret the main container reads the store's access key from.
func secretOf(r rendered) string {
	for _, e := range r.main().Env {
		if e.Name == "AWS_ACCESS_KEY_ID" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return e.ValueFrom.SecretKeyRef.Name
		}
	}
	return ""
}
