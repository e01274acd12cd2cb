package blueprint

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// CheckOptions names the actions the steps run. Zero values mean "backup",
// "restore" and "delete".
type CheckOptions struct {
	BackupAction  string
	RestoreAction string
	DeleteAction  string
}

func (o CheckOptions) withDefaults() CheckOptions {
	if o.BackupAction == "" {
		o.BackupAction = "backup"
	}
	if o.RestoreAction == "" {
		o.RestoreAction = "restore"
	}
	if o.DeleteAction == "" {
		o.DeleteAction = "delete"
	}
	return o
}

// Problem is one thing wrong with a Blueprint. Action and Phase are empty
// when the problem is not tied to one.
type Problem struct {
	Action  string
	Phase   string
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Phase != "":
		return fmt.Sprintf("action %s, phase %s: %s", p.Action, p.Phase, p.Message)
	case p.Action != "":
		return fmt.Sprintf("action %s: %s", p.Action, p.Message)
	}
	return p.Message
}

var (
	phaseOutputRef = regexp.MustCompile(`\.Phases\.([A-Za-z0-9_]+)\.Output\b`)
	deferOutputRef = regexp.MustCompile(`\.DeferPhase\.Output\b`)
	artifactRef    = regexp.MustCompile(`\.ArtifactsIn\.([A-Za-z0-9_]+)\.(?:KeyValue\.([A-Za-z0-9_]+)|(KopiaSnapshot))`)
)

// Check returns every problem it finds, sorted for stable output; none
// means the Blueprint passed. Templates are matched in their plain dotted
// form (`.ArtifactsIn.x.KeyValue.y`); references built with `index` are not
// followed.
func Check(bp *Blueprint, opts CheckOptions) []Problem {
	opts = opts.withDefaults()
	var c checker
	if bp == nil || len(bp.Actions) == 0 {
		return []Problem{{Message: "the Blueprint has no actions (is its content wrapped in spec:? Blueprints keep actions at the top level)"}}
	}
	for _, name := range []string{opts.BackupAction, opts.RestoreAction, opts.DeleteAction} {
		if _, ok := bp.Actions[name]; !ok {
			c.add(name, "", "missing: the steps run this action, add it to the Blueprint")
		}
	}
	c.uniquePhases(bp)
	for _, name := range sortedKeys(bp.Actions) {
		a := bp.Actions[name]
		for _, ph := range phasesOf(a) {
			c.phase(name, ph)
		}
		c.phaseRefs(name, a)
	}
	if backup, ok := bp.Actions[opts.BackupAction]; ok {
		for _, name := range []string{opts.RestoreAction, opts.DeleteAction} {
			if a, ok := bp.Actions[name]; ok {
				c.artifactRefs(name, a, opts.BackupAction, backup)
			}
		}
	}
	sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].String() < c.problems[j].String() })
	return c.problems
}

type checker struct{ problems []Problem }

func (c *checker) add(action, phase, format string, args ...any) {
	c.problems = append(c.problems, Problem{Action: action, Phase: phase, Message: fmt.Sprintf(format, args...)})
}

// uniquePhases enforces what Kanister's admission webhook enforces: phase
// names are unique across the whole Blueprint, defer phases included.
func (c *checker) uniquePhases(bp *Blueprint) {
	seen := map[string]string{}
	for _, name := range sortedKeys(bp.Actions) {
		for _, ph := range phasesOf(bp.Actions[name]) {
			if ph.Name == "" {
				c.add(name, "", "a %s phase has no name", ph.Func)
				continue
			}
			if other, dup := seen[ph.Name]; dup {
				c.add(name, ph.Name, "phase name already used in action %s; names must be unique across the Blueprint", other)
				continue
			}
			seen[ph.Name] = name
		}
	}
}

func (c *checker) phase(action string, ph Phase) {
	fn, ok := functions[ph.Func]
	if !ok {
		c.add(action, ph.Name, "unknown function %q (not registered in Kanister)", ph.Func)
		return
	}
	for _, arg := range fn.required {
		if _, ok := ph.Args[arg]; !ok {
			c.add(action, ph.Name, "%s needs arg %q", ph.Func, arg)
		}
	}
	for _, arg := range sortedKeys(ph.Args) {
		if !fn.supports(arg) {
			c.add(action, ph.Name, "%s does not take arg %q: Kanister fails the phase (\"argument %s is not supported\")", ph.Func, arg, arg)
		}
	}
	for _, group := range fn.oneOf {
		n := 0
		for _, arg := range group {
			if _, ok := ph.Args[arg]; ok {
				n++
			}
		}
		if n != 1 {
			c.add(action, ph.Name, "%s needs exactly one of args %s", ph.Func, strings.Join(group, ", "))
		}
	}
	if ph.Func == "PrepareData" && ph.Args["failOnError"] != true {
		c.add(action, ph.Name, "PrepareData without failOnError: true succeeds when its command fails (Kanister then only parses the log); set failOnError: true")
	}
	if fn.restic {
		if key, _ := ph.Args["encryptionKey"].(string); strings.TrimSpace(key) == "" {
			c.add(action, ph.Name, "%s has no encryptionKey, so restic would use Kanister's built-in default key; pass one from a Secret, e.g. '{{ index .Secrets.encryptionKey.Data \"key\" | toString }}'", ph.Func)
		}
	}
}

// phaseRefs checks that `.Phases.X.Output` in args refers to an earlier
// phase of the same action, and in output artifacts to any of its phases.
func (c *checker) phaseRefs(action string, a Action) {
	earlier := map[string]bool{}
	for _, ph := range a.Phases {
		for _, s := range templateStrings(ph.Args) {
			for _, m := range phaseOutputRef.FindAllStringSubmatch(s, -1) {
				if !earlier[m[1]] {
					c.add(action, ph.Name, "args read .Phases.%s, which is not an earlier phase of this action", m[1])
				}
			}
		}
		earlier[ph.Name] = true
	}
	all := map[string]bool{}
	for _, ph := range phasesOf(a) {
		all[ph.Name] = true
	}
	for _, art := range sortedKeys(a.OutputArtifacts) {
		for _, s := range artifactStrings(a.OutputArtifacts[art]) {
			for _, m := range phaseOutputRef.FindAllStringSubmatch(s, -1) {
				if !all[m[1]] {
					c.add(action, "", "output artifact %s reads .Phases.%s, which is not a phase of this action", art, m[1])
				}
			}
			if deferOutputRef.MatchString(s) && a.DeferPhase == nil {
				c.add(action, "", "output artifact %s reads .DeferPhase, but the action has no deferPhase", art)
			}
		}
	}
}

// artifactRefs checks that an action reads only artifacts the backup
// action's outputArtifacts produce: the steps feed the backup's rendered
// artifacts into restore and delete, and nothing else.
func (c *checker) artifactRefs(action string, a Action, backupName string, backup Action) {
	for _, ph := range phasesOf(a) {
		for _, s := range templateStrings(ph.Args) {
			for _, m := range artifactRef.FindAllStringSubmatch(s, -1) {
				art, ok := backup.OutputArtifacts[m[1]]
				switch {
				case !ok:
					c.add(action, ph.Name, "reads artifact %s, which action %s does not produce", m[1], backupName)
				case m[3] != "" && art.KopiaSnapshot == "":
					c.add(action, ph.Name, "reads artifact %s.KopiaSnapshot, which action %s does not set", m[1], backupName)
				case m[2] != "":
					if _, ok := art.KeyValue[m[2]]; !ok {
						c.add(action, ph.Name, "reads artifact %s key %s, which action %s does not produce", m[1], m[2], backupName)
					}
				}
			}
		}
	}
}

func phasesOf(a Action) []Phase {
	if a.DeferPhase == nil {
		return a.Phases
	}
	return append(append([]Phase(nil), a.Phases...), *a.DeferPhase)
}

// templateStrings collects every string inside args, however nested.
func templateStrings(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		out = append(out, t)
	case map[string]any:
		for _, k := range sortedKeys(t) {
			out = append(out, templateStrings(t[k])...)
		}
	case []any:
		for _, e := range t {
			out = append(out, templateStrings(e)...)
		}
	}
	return out
}

func artifactStrings(a Artifact) []string {
	out := []string{a.KopiaSnapshot}
	for _, k := range sortedKeys(a.KeyValue) {
		out = append(out, a.KeyValue[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
