// Package preflight checks, before training starts, every link a snapshot
// and a restore will rely on: the API server, Kanister's CRDs and
// controller, the Blueprint, the Profile and its bucket, the target
// objects, the mlstate store and its latest restore point, the step's own
// RBAC permissions and the staged directories. Each check yields one line
// of a Checklist (ok, warning or broken) and, when something is wrong, what
// to do about it.
//
// Preflight changes nothing: it never creates ActionSets, and its only
// writes are scratch objects (one in the Profile's bucket, one in the
// store) that it removes again, also when the run is interrupted.
package preflight

import "encoding/json"

// Status is the outcome of one check.
type Status int

// Statuses, from best to worst.
const (
	OK Status = iota
	Warning
	Broken
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warning:
		return "warning"
	}
	return "broken"
}

// MarshalText writes the status as ok, warning or broken.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Check is one line of the checklist.
type Check struct {
	// ID is a stable machine name: api, crds, controller, blueprint,
	// secret, profile, bucket, object, permissions, store, restore-point,
	// stage.
	ID string `json:"id"`
	// Name is what the line shows, e.g. "Object pvc/ml/data".
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail says what was found (and, for ok, how it was decided).
	Detail string `json:"detail"`
	// Advice says what to do; empty for ok lines. It may span lines (the
	// permissions check gives a ready-to-apply Role rule).
	Advice string `json:"advice,omitempty"`
}

func ok(id, name, format string, args ...any) Check {
	return Check{ID: id, Name: name, Status: OK, Detail: sprintf(format, args...)}
}

func warn(id, name, advice, format string, args ...any) Check {
	return Check{ID: id, Name: name, Status: Warning, Detail: sprintf(format, args...), Advice: advice}
}

func broken(id, name, advice, format string, args ...any) Check {
	return Check{ID: id, Name: name, Status: Broken, Detail: sprintf(format, args...), Advice: advice}
}

// Checklist is every check of one run, in a fixed order.
type Checklist []Check

// Worst is the worst status in the list (OK for an empty list).
func (l Checklist) Worst() Status {
	w := OK
	for _, c := range l {
		if c.Status > w {
			w = c.Status
		}
	}
	return w
}

// Find returns the first check with the given ID.
func (l Checklist) Find(id string) (Check, bool) {
	for _, c := range l {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// MarshalJSON writes the list as an array, never null.
func (l Checklist) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]Check(l))
}
