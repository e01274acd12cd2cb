package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Config is the stack configuration (`pulumi config set ...`). Credentials
// and the restic key are secrets (`pulumi config set --secret ...`).
type Config struct {
	AppNamespace      string // the ML app and its Workflows (default ml)
	KanisterNamespace string // the Kanister operator (default kanister)
	KanisterVersion   string // Helm chart version of kanister-operator
	MinioEndpoint     string // e.g. http://minio.minio.svc:9000
	KanisterBucket    string // bucket of the Kanister Profile (default kanister)
	StoreBucket       string // bucket of mlstate's store (default mlstate)
	RepoRoot          string // path of the mlstate repository (default ../..)
	MinioAccessKey    pulumi.StringOutput
	MinioSecretKey    pulumi.StringOutput
	ResticKey         pulumi.StringOutput
}

func loadConfig(ctx *pulumi.Context) Config {
	c := config.New(ctx, "")
	or := func(key, def string) string {
		if v := c.Get(key); v != "" {
			return v
		}
		return def
	}
	return Config{
		AppNamespace:      or("appNamespace", "ml"),
		KanisterNamespace: or("kanisterNamespace", "kanister"),
		KanisterVersion:   or("kanisterChartVersion", "0.119.0"),
		MinioEndpoint:     c.Require("minioEndpoint"),
		KanisterBucket:    or("kanisterBucket", "kanister"),
		StoreBucket:       or("storeBucket", "mlstate"),
		RepoRoot:          or("repoRoot", "../.."),
		MinioAccessKey:    c.RequireSecret("minioAccessKey"),
		MinioSecretKey:    c.RequireSecret("minioSecretKey"),
		ResticKey:         c.RequireSecret("resticKey"),
	}
}

// StoreURL is the mlstate store the templates are given.
func (c Config) StoreURL() string {
	return "s3://" + c.StoreBucket + "?endpoint=" + c.MinioEndpoint
}
