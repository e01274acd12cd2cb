package stage

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"

	"github.com/urfave/cli/v2"
)

// phaseOutputFlag makes a command print its results as Kanister phase
// outputs, for a Blueprint whose PrepareData or KubeTask phase runs the
// stage image: Kanister reads `###Phase-output###: {"key":K,"value":V}`
// lines from the pod's log (pkg/output in Kanister's source) into
// .Phases.PHASE.Output.K.
func phaseOutputFlag() cli.Flag {
	return &cli.BoolFlag{Name: "phase-output", Usage: "also print the results as Kanister phase outputs (###Phase-output### lines), for a Blueprint that runs this image", EnvVars: []string{"MLSTATE_PHASE_OUTPUT"}}
}

// phaseOutputKey is what Kanister accepts as an output key (output.go
// ValidateKey); the step's own names use dashes, so they are mapped.
var phaseOutputKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// writePhaseOutputs prints one line per value, in key order, each value as
// a string (Kanister's outputs are string to string).
func writePhaseOutputs(w io.Writer, values map[string]string) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !phaseOutputKey.MatchString(k) {
			return fmt.Errorf("phase output key %q: Kanister accepts only letters, digits and '_'", k)
		}
		line, err := json.Marshal(struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}{k, values[k]})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "###Phase-output###: %s\n", line); err != nil {
			return fmt.Errorf("print phase output %s: %w", k, err)
		}
	}
	return nil
}
