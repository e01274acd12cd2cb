// Package blueprint reads Kanister Blueprints and checks them statically,
// before any ActionSet runs: Kanister itself only finds most mistakes (an
// unknown function, an artifact the backup never produces, a restic phase
// left on the built-in default key) when an action fails at run time.
// The templates tests and the preflight step share these checks.
package blueprint

import (
	"bytes"
	"encoding/json"
	"fmt"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Blueprint is the part of a cr.kanister.io/v1alpha1 Blueprint the checks
// read. Actions sit at the top level of the object (there is no spec).
type Blueprint struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   Metadata          `json:"metadata"`
	Actions    map[string]Action `json:"actions,omitempty"`
}

// Metadata is the Blueprint's name and namespace.
type Metadata struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// Action is one Blueprint action (backup, restore, delete, ...).
type Action struct {
	Name            string              `json:"name,omitempty"`
	Kind            string              `json:"kind,omitempty"`
	OutputArtifacts map[string]Artifact `json:"outputArtifacts,omitempty"`
	Phases          []Phase             `json:"phases,omitempty"`
	DeferPhase      *Phase              `json:"deferPhase,omitempty"`
}

// Artifact is an output-artifact template (or, in an ActionSet, a value).
type Artifact struct {
	KeyValue      map[string]string `json:"keyValue,omitempty"`
	KopiaSnapshot string            `json:"kopiaSnapshot,omitempty"`
}

// Phase runs one Kanister function. Args are free-form (strings, lists and
// maps), as in the CRD.
type Phase struct {
	Func    string                     `json:"func"`
	Name    string                     `json:"name"`
	Args    map[string]any             `json:"args,omitempty"`
	Objects map[string]ObjectReference `json:"objects,omitempty"`
}

// ObjectReference is Kanister's reference to another object.
type ObjectReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Group      string `json:"group,omitempty"`
	Resource   string `json:"resource,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

// Decode reads one Blueprint from YAML or JSON.
func Decode(data []byte) (*Blueprint, error) {
	var bp Blueprint
	if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&bp); err != nil {
		return nil, fmt.Errorf("decode Blueprint: %w", err)
	}
	if bp.Kind != "" && bp.Kind != "Blueprint" {
		return nil, fmt.Errorf("decode Blueprint: object is a %s", bp.Kind)
	}
	return &bp, nil
}

// FromUnstructured converts an object read with a dynamic client (the
// Object field of *unstructured.Unstructured). A JSON round trip keeps args
// of any shape.
func FromUnstructured(obj map[string]any) (*Blueprint, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("convert Blueprint: %w", err)
	}
	return Decode(b)
}
