package kanister

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Result is a completed ActionSet.
type Result struct {
	Namespace, Name string
	Actions         []ActionResult
}

// ActionResult is one completed action: what was asked (Spec) and what
// Kanister reports (blueprint and object as run, rendered output artifacts,
// phase outputs).
type ActionResult struct {
	Spec      ActionSpec
	Name      string
	Blueprint string
	Object    ObjectRef
	Artifacts map[string]Artifact
	Phases    []PhaseStatus
}

// newResult reads a complete ActionSet. Artifacts are only read here,
// because before completion they are raw templates (contract §2.4).
func newResult(u *unstructured.Unstructured, st Status) (*Result, error) {
	var specs []ActionSpec
	raw, _, _ := unstructured.NestedSlice(u.Object, "spec", "actions")
	if err := fromJSONValue(raw, &specs); err != nil {
		return nil, fmt.Errorf("decode spec of ActionSet %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	if len(st.Actions) != len(specs) {
		return nil, fmt.Errorf("ActionSet %s/%s is complete but has %d action statuses for %d actions",
			u.GetNamespace(), u.GetName(), len(st.Actions), len(specs))
	}
	r := &Result{Namespace: u.GetNamespace(), Name: u.GetName()}
	for i, a := range st.Actions {
		if art := unrendered(a.Artifacts); art != "" {
			return nil, fmt.Errorf("ActionSet %s/%s: action %d (%s) output artifact %s is still a template; not recording it",
				u.GetNamespace(), u.GetName(), i, a.Name, art)
		}
		r.Actions = append(r.Actions, ActionResult{Spec: specs[i], Name: a.Name, Blueprint: a.Blueprint,
			Object: a.Object, Artifacts: a.Artifacts, Phases: a.Phases})
	}
	return r, nil
}

// RecordedAction is everything a later restore or delete needs from one
// completed backup action, stored in restore-point records so that a restore
// works after the backup ActionSet is gone (Kanister keeps nothing else).
type RecordedAction struct {
	// ActionSet is "namespace/name" of the backup ActionSet, for reference.
	ActionSet  string               `json:"actionSet"`
	Name       string               `json:"name"`
	Blueprint  string               `json:"blueprint"`
	Object     ObjectRef            `json:"object"`
	Profile    *ObjectRef           `json:"profile,omitempty"`
	Secrets    map[string]ObjectRef `json:"secrets,omitempty"`
	ConfigMaps map[string]ObjectRef `json:"configMaps,omitempty"`
	Options    map[string]string    `json:"options,omitempty"`
	// Artifacts are the rendered output artifacts of the backup.
	Artifacts map[string]Artifact `json:"artifacts,omitempty"`
	Phases    []RecordedPhase     `json:"phases,omitempty"`
}

// RecordedPhase keeps a phase's output, for the record.
type RecordedPhase struct {
	Name   string         `json:"name"`
	Output map[string]any `json:"output,omitempty"`
}

// Recorded returns the record of every action, taking the fields from the
// places kanctl --from reads them (contract §5.3).
func (r *Result) Recorded() []RecordedAction {
	out := make([]RecordedAction, 0, len(r.Actions))
	for _, a := range r.Actions {
		rec := RecordedAction{
			ActionSet: r.Namespace + "/" + r.Name, Name: a.Name, Blueprint: a.Blueprint, Object: a.Object,
			Profile: a.Spec.Profile, Secrets: a.Spec.Secrets, ConfigMaps: a.Spec.ConfigMaps,
			Options: a.Spec.Options, Artifacts: a.Artifacts,
		}
		for _, p := range a.Phases {
			rec.Phases = append(rec.Phases, RecordedPhase{Name: p.Name, Output: p.Output})
		}
		out = append(out, rec)
	}
	return out
}

// Override changes a restore action built by RestoreAction, like kanctl's
// flags do.
type Override func(*ActionSpec)

// WithBlueprint replaces the blueprint.
func WithBlueprint(bp string) Override { return func(a *ActionSpec) { a.Blueprint = bp } }

// WithObject replaces the target object (e.g. restore into another PVC).
func WithObject(o ObjectRef) Override { return func(a *ActionSpec) { a.Object = o } }

// WithProfile replaces the Profile.
func WithProfile(p ObjectRef) Override { return func(a *ActionSpec) { a.Profile = &p } }

// WithSecrets replaces the Secrets map wholesale.
func WithSecrets(m map[string]ObjectRef) Override {
	return func(a *ActionSpec) { a.Secrets = maps.Clone(m) }
}

// WithConfigMaps replaces the ConfigMaps map wholesale.
func WithConfigMaps(m map[string]ObjectRef) Override {
	return func(a *ActionSpec) { a.ConfigMaps = maps.Clone(m) }
}

// WithOptions merges options into the recorded ones; these win per key.
func WithOptions(m map[string]string) Override {
	return func(a *ActionSpec) {
		if len(m) == 0 {
			return
		}
		if a.Options == nil {
			a.Options = map[string]string{}
		}
		maps.Copy(a.Options, m)
	}
}

// WithPodLabels sets worker pod labels (never inherited from the backup).
func WithPodLabels(m map[string]string) Override {
	return func(a *ActionSpec) { a.PodLabels = maps.Clone(m) }
}

// WithPodAnnotations sets worker pod annotations (never inherited).
func WithPodAnnotations(m map[string]string) Override {
	return func(a *ActionSpec) { a.PodAnnotations = maps.Clone(m) }
}

// RestoreAction builds the restore (or delete) action for a recorded backup
// action the way kanctl --from does (contract §5.3): the backup's rendered
// output artifacts become the input artifacts; blueprint and object as the
// backup ran them; profile, secrets, configMaps and options from the backup's
// spec; pod labels and annotations not inherited. action "" keeps the
// backup's action name. The record is deep-copied.
func RestoreAction(backup RecordedAction, action string, overrides ...Override) ActionSpec {
	a := ActionSpec{
		Name: backup.Name, Blueprint: backup.Blueprint, Object: backup.Object,
		Secrets: maps.Clone(backup.Secrets), ConfigMaps: maps.Clone(backup.ConfigMaps),
		Options: maps.Clone(backup.Options),
	}
	if action != "" {
		a.Name = action
	}
	if backup.Profile != nil {
		p := *backup.Profile
		a.Profile = &p
	}
	if len(backup.Artifacts) > 0 {
		a.Artifacts = make(map[string]Artifact, len(backup.Artifacts))
		for k, v := range backup.Artifacts {
			a.Artifacts[k] = Artifact{KeyValue: maps.Clone(v.KeyValue), KopiaSnapshot: v.KopiaSnapshot}
		}
	}
	for _, o := range overrides {
		o(&a)
	}
	return a
}

// failure builds the *ActionSetError for a failed ActionSet.
func (c *Client) failure(ctx context.Context, u *unstructured.Unstructured, st Status) *ActionSetError {
	e := &ActionSetError{Namespace: u.GetNamespace(), Name: u.GetName(), Message: Readable(st.Error.Message)}
	for _, a := range st.Actions {
		for _, p := range a.Phases {
			if p.State == StateFailed && e.Phase == "" {
				e.Action, e.Phase = a.Name, p.Name
			}
		}
		if a.DeferPhase.State == StateFailed && e.Phase == "" {
			e.Action, e.Phase = a.Name, a.DeferPhase.Name
		}
	}
	if e.Action == "" {
		// Failed at initialisation (no Blueprint, unknown action): Kanister
		// leaves status.actions empty.
		if specs, _, _ := unstructured.NestedSlice(u.Object, "spec", "actions"); len(specs) == 1 {
			if m, ok := specs[0].(map[string]any); ok {
				e.Action, _ = m["name"].(string)
			}
		}
	}
	e.Events = c.warnings(ctx, e.Namespace, e.Name)
	return e
}

// eventWait bounds how long a failure waits for Kanister's Warning Event.
const eventWait = 5 * time.Second

// warnings lists the ActionSet's most recent Warning Events, best effort.
func (c *Client) warnings(ctx context.Context, ns, name string) []string {
	if c.Kube == nil {
		return nil
	}
	opts := metav1.ListOptions{
		FieldSelector: "involvedObject.kind=ActionSet,involvedObject.name=" + name + ",type=" + corev1.EventTypeWarning,
	}
	var items []corev1.Event
	// Kanister writes the failed status first and the Warning Event after
	// it, through client-go's asynchronous event broadcaster, so the Event
	// may show a while after the status: on a loaded node, seconds. Only a
	// failure pays for this wait.
	deadline := time.Now().Add(eventWait)
	for attempt := 0; len(items) == 0 && (attempt == 0 || time.Now().Before(deadline)); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(250 * time.Millisecond):
			}
		}
		list, err := c.Kube.CoreV1().Events(ns).List(ctx, opts)
		if err != nil {
			c.log().Warn("cannot list the ActionSet's events", "actionset", ns+"/"+name, "err", err)
			return nil
		}
		items = list.Items
	}
	sort.SliceStable(items, func(i, j int) bool { return eventTime(items[i]).Time.Before(eventTime(items[j]).Time) })
	if len(items) > 5 {
		items = items[len(items)-5:]
	}
	var out []string
	for _, ev := range items {
		out = append(out, ev.Reason+": "+Readable(ev.Message))
	}
	return out
}

func eventTime(ev corev1.Event) metav1.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp
	case !ev.EventTime.IsZero():
		return metav1.Time{Time: ev.EventTime.Time}
	}
	return ev.CreationTimestamp
}
