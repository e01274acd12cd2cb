// Command pulumi deploys mlstate's whole setup into one cluster: the
// Kanister operator (its Helm chart), the MinIO Profile and the Secrets
// it and the Blueprints read, mlstate's WorkflowTemplate, RBAC and
// Blueprints (read from the repository's own YAML, so there is one copy),
// and a small example ML app whose PVC the examples back up.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(deploy)
}

// deploy declares every resource; main_test.go runs it against mocks.
func deploy(ctx *pulumi.Context) error {
	cfg := loadConfig(ctx)
	nss, err := namespaces(ctx, cfg)
	if err != nil {
		return err
	}
	kanister, err := kanisterOperator(ctx, cfg, nss)
	if err != nil {
		return err
	}
	secrets, err := secrets(ctx, cfg, nss)
	if err != nil {
		return err
	}
	profile, err := minioProfile(ctx, cfg, kanister, secrets)
	if err != nil {
		return err
	}
	if _, err := mlstateManifests(ctx, cfg, kanister, nss); err != nil {
		return err
	}
	if err := exampleApp(ctx, cfg, nss); err != nil {
		return err
	}
	ctx.Export("storeURL", pulumi.String(cfg.StoreURL()))
	ctx.Export("profile", pulumi.Sprintf("%s/%s", cfg.KanisterNamespace, profile.Metadata.Name().Elem()))
	ctx.Export("appNamespace", pulumi.String(cfg.AppNamespace))
	return nil
}
