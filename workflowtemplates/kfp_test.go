package workflowtemplates

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	kfpPipeline = "examples/kubeflow/pipeline.py"
	kfpIR       = "examples/kubeflow/guarded_training.ir.yaml"
)

// m walks a decoded YAML tree: m(v, "a", "b") is v["a"]["b"], or nil.
func m(v any, path ...string) any {
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func ms(v any, path ...string) map[string]any { r, _ := m(v, path...).(map[string]any); return r }

// TestKubeflowPipelineIR checks the compiled form of pipeline.py. The kfp
// package cannot be installed here, so the IR is a hand-written fixture; this
// test holds it to what a correct pipeline compiles to (KFP's own rules for
// exit handlers), and holds it to pipeline.py where they overlap.
func TestKubeflowPipelineIR(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, kfpIR))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocs(kfpIR, raw)
	if err != nil || len(docs) != 2 {
		t.Fatalf("%s: want the pipeline spec and the platform spec, got %d documents (%v)", kfpIR, len(docs), err)
	}
	spec, platform := docs[0].obj, docs[1].obj
	if spec["schemaVersion"] != "2.1.0" {
		t.Errorf("schemaVersion %v, want 2.1.0", spec["schemaVersion"])
	}
	comps := ms(spec, "components")
	execs := ms(spec, "deploymentSpec", "executors")
	imageOf := func(task map[string]any) string {
		comp := ms(comps, m(task, "componentRef", "name").(string))
		label, _ := comp["executorLabel"].(string)
		s, _ := m(execs, label, "container", "image").(string)
		return s
	}

	// The exit task: runs after the group whatever its outcome, depends on
	// nothing but it, and takes only pipeline inputs and the final status.
	var exitName, groupName string
	for name, tv := range ms(spec, "root", "dag", "tasks") {
		if m(tv, "triggerPolicy", "strategy") == "ALL_UPSTREAM_TASKS_COMPLETED" {
			exitName = name
		} else if ms(comps, m(tv, "componentRef", "name").(string))["dag"] != nil {
			groupName = name
		}
	}
	if exitName == "" || groupName == "" {
		t.Fatalf("root has no exit task (triggerPolicy ALL_UPSTREAM_TASKS_COMPLETED) and exit-handler group")
	}
	exit := ms(spec, "root", "dag", "tasks", exitName)
	if deps := m(exit, "dependentTasks"); !slices.Equal(asStrings(deps), []string{groupName}) {
		t.Errorf("exit task %s depends on %v; an exit task may depend on its group only", exitName, deps)
	}
	if arts := ms(exit, "inputs", "artifacts"); len(arts) > 0 {
		t.Errorf("exit task %s consumes artifacts %v of other tasks", exitName, arts)
	}
	sawStatus := false
	for name, in := range ms(exit, "inputs", "parameters") {
		im := in.(map[string]any)
		switch {
		case im["componentInputParameter"] != nil, im["runtimeValue"] != nil:
		case m(im, "taskFinalStatus", "producerTask") == groupName:
			sawStatus = true
		default:
			t.Errorf("exit task input %s comes from another task (%v); KFP refuses that", name, im)
		}
	}
	if !sawStatus {
		t.Errorf("exit task %s does not receive the group's final status", exitName)
	}

	// Inside the group: the snapshot, then training that waits for it.
	groupComp := m(ms(spec, "root", "dag", "tasks", groupName), "componentRef", "name").(string)
	var snapTask, trainTask string
	tasks := ms(comps, groupComp, "dag", "tasks")
	for name, tv := range tasks {
		switch img := imageOf(tv.(map[string]any)); {
		case strings.HasPrefix(img, imagePrefix+"snapshot:"):
			snapTask = name
		default:
			trainTask = name
		}
	}
	if snapTask == "" || trainTask == "" {
		t.Fatalf("the exit handler group must hold the snapshot and the training, got %v", tasks)
	}
	if !slices.Contains(asStrings(m(tasks, trainTask, "dependentTasks")), snapTask) {
		t.Errorf("training (%s) does not wait for the snapshot (%s)", trainTask, snapTask)
	}
	for name, tv := range tasks {
		if m(tv, "cachingOptions", "enableCache") != false {
			t.Errorf("task %s may be served from KFP's cache; snapshots and training have side effects", name)
		}
	}
	if m(exit, "cachingOptions", "enableCache") != false {
		t.Errorf("exit task %s may be served from KFP's cache", exitName)
	}

	// The exit task's program is pipeline.py's restore_on_failure, verbatim.
	py, err := os.ReadFile(filepath.Join(root, kfpPipeline))
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?ms)^def restore_on_failure\(.*?\n\n\n`).Find(py)
	if fn == nil {
		t.Fatalf("%s has no restore_on_failure function", kfpPipeline)
	}
	exitExec, _ := ms(comps, m(exit, "componentRef", "name").(string))["executorLabel"].(string)
	cmd := asStrings(m(execs, exitExec, "container", "command"))
	if len(cmd) == 0 || !strings.Contains(cmd[len(cmd)-1], strings.TrimRight(string(fn), "\n")) {
		t.Errorf("the exit task's program in %s is not restore_on_failure as written in %s", kfpIR, kfpPipeline)
	}
	for _, want := range []string{"--from-this-workflow", "--workflow-status", "status.state"} {
		if !strings.Contains(string(fn), want) {
			t.Errorf("restore_on_failure does not pass %s: the restore would not know what to skip", want)
		}
	}

	// pipeline.py's own structure, where the IR cannot see it.
	src := string(py)
	for _, c := range []struct{ re, why string }{
		{`with dsl\.ExitHandler\(exit_task=restore`, "the restore is the exit handler's exit task"},
		{`(?s)with dsl\.ExitHandler.*snap = snapshot\(`, "the snapshot runs inside the exit handler"},
		{`train\(fail=fail\)\.after\(snap\)`, "training waits for the snapshot"},
	} {
		if !regexp.MustCompile(c.re).MatchString(src) {
			t.Errorf("%s: %s (no match for %s)", kfpPipeline, c.why, c.re)
		}
	}
	if call := regexp.MustCompile(`restore_on_failure\([^)]*\)`).FindString(src[strings.Index(src, "def guarded_training"):]); strings.Contains(call, ".output") {
		t.Errorf("%s: the exit task consumes another task's output: %s", kfpPipeline, call)
	}
	if strings.Contains(src, "pvc/ml/") {
		t.Errorf("%s hard-codes a Kanister target; take it as a pipeline parameter", kfpPipeline)
	}

	// Platform spec: the store Secret reaches the steps as env, and the
	// training PVC is a pipeline parameter, not a constant.
	pexecs := ms(platform, "platforms", "kubernetes", "deploymentSpec", "executors")
	for _, e := range []string{"exec-mlstate-snapshot", exitExec} {
		if m(pexecs, e, "secretAsEnv") == nil {
			t.Errorf("platform spec: %s gets no store credentials from the Secret", e)
		}
	}
	mounts, _ := m(pexecs, "exec-train", "pvcMount").([]any)
	if len(mounts) != 1 || m(mounts[0], "componentInputParameter") == nil {
		t.Errorf("platform spec: the training PVC must come from a pipeline parameter, got %v", mounts)
	}

	// Every flag the IR passes to a step exists.
	var ivs []invocation
	for label, ev := range execs {
		c := ms(ev, "container")
		iv := containerInvocation(kfpIR, "executor "+label, c)
		ivs = append(ivs, iv)
	}
	for _, err := range checkStepFlags(ivs) {
		t.Error(err)
	}
}

func asStrings(v any) []string {
	var out []string
	for _, e := range asList(v) {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
