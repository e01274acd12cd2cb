package kanister

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Internals exposed to the integration tests (package kanister_test), e.g.
// to send a spec with a typo that the typed ActionSpec cannot express.
var (
	BuildObject   = (*Client).buildObject
	CreateOrAdopt = func(c *Client, ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		return c.createOrAdopt(ctx, obj, false)
	}
)
