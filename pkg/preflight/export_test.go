package preflight

// SetScratchHook lets a test act right after a scratch object was written.
func SetScratchHook(f func()) { testHookScratchWritten = f }

var (
	ParseEndpoint = parseEndpoint
	RoleRules     = func(verb, group, resource, ns, name string) string {
		return roleRules([]permission{{Verb: verb, Group: group, Resource: resource, Namespace: ns, Name: name}})
	}
)
