package kanister

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// retrySuffix is the "(N)" Argo appends to the node name of a retry attempt.
var retrySuffix = regexp.MustCompile(`\(\d+\)$`)

// namePrefix starts every ActionSet name mlstate creates.
const namePrefix = "mlstate-"

// Name returns the deterministic ActionSet name for one action of one Argo
// node: a retried step (same workflow UID and node ID) gets the same name and
// so adopts the ActionSet it created before instead of starting a second
// backup. The result is a DNS-1123 label of at most 57 characters (room for
// the "-N" of a retry after a failed ActionSet, see Client.Run), so it can
// also serve as the kanister.io/JobID label value. With no workflow UID or
// node ID (a step run by hand) it returns "": use GenerateName instead.
//
// The node must be identified the same way on every attempt: each attempt
// of a retryStrategy is a child node with its own ID and a name ending in
// "(N)", so pass the node name ({{node.name}}); a trailing "(N)" is ignored.
// `argo retry` re-runs a node under the same UID and node name, so the name
// alone cannot tell a second run from a retryStrategy attempt: Request.NewRun
// ({{retries}} == 0) does.
func Name(workflowUID, nodeID, action string) string {
	if workflowUID == "" || nodeID == "" {
		return ""
	}
	nodeID = retrySuffix.ReplaceAllString(nodeID, "")
	sum := sha256.Sum256([]byte(workflowUID + "\x00" + nodeID + "\x00" + action))
	return namePrefix + sanitize(action, 36) + "-" + hex.EncodeToString(sum[:])[:12]
}

// GenerateName returns the metadata.generateName prefix for an ActionSet
// created outside Argo.
func GenerateName(action string) string {
	return namePrefix + sanitize(action, 40) + "-"
}

// sanitize makes s a DNS-1123 label fragment of at most max characters.
func sanitize(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		out = "action"
	}
	return out
}
