package kanister

import "k8s.io/apimachinery/pkg/runtime/schema"

// Group, version and resources of Kanister's custom resources (contract §1).
const (
	Group   = "cr.kanister.io"
	Version = "v1alpha1"
)

var (
	ActionSetGVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "actionsets"}
	BlueprintGVR = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "blueprints"}
	ProfileGVR   = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "profiles"}
)

// ActionSet states, also used for phases (contract §2.4). They are lower case.
const (
	StatePending  = "pending"
	StateRunning  = "running"
	StateComplete = "complete"
	StateFailed   = "failed"
)

// Labels put on every ActionSet at creation.
const (
	LabelPipeline    = "mlstate.io/pipeline"
	LabelWorkflowUID = "mlstate.io/workflow-uid"
	LabelAction      = "mlstate.io/action"
	// LabelJobID is copied by Kanister onto the worker pods of KubeTask and
	// related functions, which makes them findable per ActionSet (§2.6).
	LabelJobID = "kanister.io/JobID"
)

// ObjectRef is Kanister's ObjectReference (contract §2.2). Kind is compared by
// Kanister after lower-casing; PVCs must be "pvc".
type ObjectRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Group      string `json:"group,omitempty"`
	Resource   string `json:"resource,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

// String renders the reference the way ParseObject reads it.
func (o ObjectRef) String() string {
	if o.Kind == "" && o.Resource != "" {
		gv := o.APIVersion
		if o.Group != "" {
			gv = o.Group + "/" + o.APIVersion
		}
		return gv + "/" + o.Resource + "/" + o.Namespace + "/" + o.Name
	}
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Kind + "/" + o.Namespace + "/" + o.Name
}

// Artifact is an input artifact in a spec or an output artifact in a status
// (contract §2.3).
type Artifact struct {
	KeyValue      map[string]string `json:"keyValue,omitempty"`
	KopiaSnapshot string            `json:"kopiaSnapshot,omitempty"`
}

// ActionSpec is one entry of an ActionSet's spec.actions (contract §2.1). It
// is also stored in restore-point records, hence the JSON tags.
type ActionSpec struct {
	Name           string               `json:"name"`
	Blueprint      string               `json:"blueprint,omitempty"`
	Object         ObjectRef            `json:"object"`
	Artifacts      map[string]Artifact  `json:"artifacts,omitempty"`
	ConfigMaps     map[string]ObjectRef `json:"configMaps,omitempty"`
	Secrets        map[string]ObjectRef `json:"secrets,omitempty"`
	Profile        *ObjectRef           `json:"profile,omitempty"`
	Options        map[string]string    `json:"options,omitempty"`
	PodLabels      map[string]string    `json:"podLabels,omitempty"`
	PodAnnotations map[string]string    `json:"podAnnotations,omitempty"`
}

// Status is an ActionSet's status as the controller writes it (§2.4).
type Status struct {
	State    string         `json:"state,omitempty"`
	Actions  []ActionStatus `json:"actions,omitempty"`
	Error    StatusError    `json:"error,omitempty"`
	Progress ActionProgress `json:"progress,omitempty"`
}

// StatusError holds the most recent failure; test Message != "", the field
// itself is always serialised.
type StatusError struct {
	Message string `json:"message,omitempty"`
}

// ActionProgress is status.progress.
type ActionProgress struct {
	RunningPhase       string `json:"runningPhase,omitempty"`
	PercentCompleted   string `json:"percentCompleted,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// ActionStatus is one entry of status.actions, in spec order.
type ActionStatus struct {
	Name      string              `json:"name,omitempty"`
	Object    ObjectRef           `json:"object"`
	Blueprint string              `json:"blueprint,omitempty"`
	Phases    []PhaseStatus       `json:"phases,omitempty"`
	Artifacts map[string]Artifact `json:"artifacts,omitempty"` // raw {{ }} templates until complete
	// DeferPhase has an empty Name when the Blueprint action has none.
	DeferPhase PhaseStatus `json:"deferPhase,omitempty"`
}

// PhaseStatus is the state of one Blueprint phase.
type PhaseStatus struct {
	Name     string         `json:"name,omitempty"`
	State    string         `json:"state,omitempty"`
	Output   map[string]any `json:"output,omitempty"`
	Progress PhaseProgress  `json:"progress,omitempty"`
}

// PhaseProgress is a phase's progress; functions report "0" then "100".
type PhaseProgress struct {
	ProgressPercent    string `json:"progressPercent,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}
