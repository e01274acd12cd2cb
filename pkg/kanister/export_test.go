package kanister

// Internals exposed to the integration tests (package kanister_test), e.g.
// to send a spec with a typo that the typed ActionSpec cannot express.
var (
	BuildObject   = (*Client).buildObject
	CreateOrAdopt = (*Client).createOrAdopt
)
