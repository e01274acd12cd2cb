package workflowtemplates

import (
	_ "github.com/argoproj/argo-workflows/v3/util/file"
	_ "github.com/argoproj/argo-workflows/v3/workflow/common"
	_ "github.com/argoproj/argo-workflows/v3/workflow/validate"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/kustomize/kyaml/filesys"
)
