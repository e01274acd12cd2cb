package restorepoint

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// An ID names a restore point: "rp-20261128-172601.123-a1b2c3". It sorts by
// creation time within a pipeline (lexically, so a store listing is already
// in order), and it is safe as an Argo parameter, a file name and a label.
const idLayout = "20060102-150405.000"

var idPattern = regexp.MustCompile(`^rp-[0-9]{8}-[0-9]{6}\.[0-9]{3}-[0-9a-f]{6}$`)

// NewID returns a fresh ID for a restore point created at t.
func NewID(t time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "rp-" + t.UTC().Format(idLayout) + "-" + hex.EncodeToString(b)
}

// ValidateID checks an ID given by a user before it becomes a store key.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("restore point ID %q is malformed: want rp-YYYYMMDD-HHMMSS.mmm-xxxxxx (as printed by snapshot or `catalog list`)", id)
	}
	return nil
}

// IDTime returns the creation time encoded in a valid ID.
func IDTime(id string) (time.Time, error) {
	if err := ValidateID(id); err != nil {
		return time.Time{}, err
	}
	return time.Parse(idLayout, id[3:3+len(idLayout)])
}

var pipelinePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// ValidatePipeline checks a pipeline name: lower-case letters, digits, '.',
// '_' and '-', at most 63 characters, so it is safe as a store path segment
// and a Kubernetes label value.
func ValidatePipeline(name string) error {
	if name == "" {
		return fmt.Errorf("no pipeline given: set --pipeline or MLSTATE_PIPELINE (restore points are grouped by it)")
	}
	if !pipelinePattern.MatchString(name) {
		return fmt.Errorf("pipeline name %q is invalid: use at most 63 lower-case letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name)
	}
	return nil
}
