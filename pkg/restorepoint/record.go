// Package restorepoint keeps the immutable records that make a snapshot
// restorable: which Kanister actions ran with which rendered artifacts, and
// which staged trees hold which paths. A restore point exists exactly when
// its record exists; the record is written last, once every part of the
// snapshot has succeeded, and never rewritten.
//
// Records live in the same store as the staged trees, at
// restorepoints/<pipeline>/<id>.json, so listing a pipeline is one listing
// and its latest restore point is the last key.
package restorepoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mlstate/mlstate/pkg/kanister"
)

// SchemaVersion is the record format this code writes and reads.
const SchemaVersion = 1

// Record is everything a restore needs, captured at snapshot time.
type Record struct {
	Schema   int       `json:"schema"`
	ID       string    `json:"id"`
	Pipeline string    `json:"pipeline"`
	Created  time.Time `json:"created"`
	Workflow Workflow  `json:"workflow"`
	// Kanister holds one entry per action of the backup ActionSet, with the
	// rendered output artifacts a restore or delete action reads.
	Kanister []kanister.RecordedAction `json:"kanister,omitempty"`
	// KanisterNamespace is the controller namespace the actions ran in.
	KanisterNamespace string `json:"kanisterNamespace,omitempty"`
	// Trees maps staged paths (as seen by the snapshot step) to tree IDs.
	Trees []StagedTree `json:"trees,omitempty"`
	// Checksum is the SHA-256 of the record encoded with Checksum empty; a
	// record that does not match it is corrupt and is never used.
	Checksum string `json:"checksum"`
}

// Workflow identifies the Argo run that took the snapshot.
type Workflow struct {
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	NodeID    string `json:"nodeID,omitempty"`
}

// StagedTree is one directory pushed with the staging engine.
type StagedTree struct {
	Path  string `json:"path"`
	Tree  string `json:"tree"`
	Files int64  `json:"files"`
	Bytes int64  `json:"bytes"`
	// BytesUploaded is what this snapshot added to the store for the path.
	BytesUploaded int64 `json:"bytesUploaded"`
}

// StagedBytes is the logical size of all staged trees.
func (r *Record) StagedBytes() int64 {
	var n int64
	for _, t := range r.Trees {
		n += t.Bytes
	}
	return n
}

// TreeFor returns the staged tree recorded for path, if any.
func (r *Record) TreeFor(path string) (StagedTree, bool) {
	for _, t := range r.Trees {
		if t.Path == path {
			return t, true
		}
	}
	return StagedTree{}, false
}

// encode returns the record's bytes with its checksum set.
func (r *Record) encode() ([]byte, error) {
	c := *r
	c.Checksum = ""
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode restore point %s: %w", r.ID, err)
	}
	sum := sha256.Sum256(body)
	c.Checksum = hex.EncodeToString(sum[:])
	out, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode restore point %s: %w", r.ID, err)
	}
	r.Checksum = c.Checksum
	return append(out, '\n'), nil
}

// decode parses and verifies a stored record.
func decode(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("%w: schema %d, this mlstate reads schema %d (upgrade mlstate)", ErrCorrupt, r.Schema, SchemaVersion)
	}
	want := r.Checksum
	c := r
	c.Checksum = ""
	body, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%w: checksum %s does not match its content (%s)", ErrCorrupt, short(want), short(got))
	}
	return &r, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "(none)"
	}
	return s
}
