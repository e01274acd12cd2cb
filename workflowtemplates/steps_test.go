package workflowtemplates

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/steps/catalog"
	"github.com/mlstate/mlstate/pkg/steps/guard"
	"github.com/mlstate/mlstate/pkg/steps/preflight"
	"github.com/mlstate/mlstate/pkg/steps/restore"
	"github.com/mlstate/mlstate/pkg/steps/snapshot"
	"github.com/mlstate/mlstate/pkg/steps/stage"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// stepApps are the steps' own CLI definitions: the flags a template passes
// are checked against these, not against a copied list.
var stepApps = map[string]func() *cli.App{
	"catalog":   catalog.App,
	"guard":     guard.App,
	"preflight": preflight.App,
	"restore":   restore.App,
	"snapshot":  snapshot.App,
	"stage":     stage.App,
}

// imagePrefix is the registry path of mlstate's step images.
const imagePrefix = "ghcr.io/mlstate/"

// invocation is one place that runs a step binary with arguments.
type invocation struct {
	path  string // file, for messages
	where string // template or component inside the file
	image string
	step  string
	args  []string // command[1:] + args, flattened
	env   []string // env var names
}

func (iv invocation) String() string { return fmt.Sprintf("%s: %s", iv.path, iv.where) }

// stepOf names the step a container runs: by its binary's name (also when
// guard was installed into another image), else by its image. "" means not an mlstate step (a user's container).
func stepOf(image string, command []string) string {
	if len(command) > 0 {
		name := path.Base(command[0])
		if _, ok := stepApps[name]; ok || strings.HasPrefix(image, imagePrefix) {
			return name
		}
	}
	if strings.HasPrefix(image, imagePrefix) {
		return imageStep(image)
	}
	return ""
}

func imageStep(image string) string {
	s := strings.TrimPrefix(image, imagePrefix)
	if i := strings.IndexAny(s, ":@"); i >= 0 {
		s = s[:i]
	}
	return s
}

// invocations finds every container of every Argo template and KFP
// component in docs.
func invocations(docs []doc) []invocation {
	var out []invocation
	for _, d := range docs {
		switch {
		case d.isArgo():
			spec, _ := d.obj["spec"].(map[string]any)
			if ws, ok := spec["workflowSpec"].(map[string]any); ok {
				spec = ws
			}
			tmpls, _ := spec["templates"].([]any)
			for _, t := range tmpls {
				tm, _ := t.(map[string]any)
				name, _ := tm["name"].(string)
				for _, ic := range asList(tm["initContainers"]) {
					c, _ := ic.(map[string]any)
					out = append(out, containerInvocation(d.path, "template "+name+" init container", c))
				}
				if c, ok := tm["container"].(map[string]any); ok {
					out = append(out, containerInvocation(d.path, "template "+name, c))
				}
			}
		case d.isKFPComponent():
			impl, _ := d.obj["implementation"].(map[string]any)
			c, ok := impl["container"].(map[string]any)
			if !ok {
				continue
			}
			name, _ := d.obj["name"].(string)
			iv := containerInvocation(d.path, "component "+name, c)
			if env, ok := c["env"].(map[string]any); ok { // KFP v1: env is a map
				for k := range env {
					iv.env = append(iv.env, k)
				}
			}
			out = append(out, iv)
		}
	}
	return out
}

func containerInvocation(path, where string, c map[string]any) invocation {
	image, _ := c["image"].(string)
	command := flatStrings(c["command"])
	iv := invocation{path: path, where: where, image: image, step: stepOf(image, command)}
	if len(command) > 0 {
		iv.args = append(iv.args, command[1:]...)
	}
	iv.args = append(iv.args, flatStrings(c["args"])...)
	if env, ok := c["env"].([]any); ok {
		for _, e := range env {
			if m, ok := e.(map[string]any); ok {
				name, _ := m["name"].(string)
				iv.env = append(iv.env, name)
			}
		}
	}
	return iv
}

// flatStrings flattens a command or args list, including KFP placeholders
// such as {if: {cond: ..., then: [...]}} (their string leaves only).
func flatStrings(v any) []string {
	var out []string
	switch t := v.(type) {
	case string:
		out = append(out, t)
	case []any:
		for _, e := range t {
			out = append(out, flatStrings(e)...)
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch k {
			case "if", "then", "else", "concat":
				out = append(out, flatStrings(t[k])...)
			}
		}
	}
	return out
}

// flagInExpr finds flags written inside an Argo expression argument,
// e.g. {{= cond ? '--latest' : '--restore-point=' + id }}.
var flagInExpr = regexp.MustCompile(`'--([a-z][a-z0-9-]*)`)

// flagsUsed returns the subcommand (if the step has subcommands) and the
// flag names an invocation passes. Arguments after "--" belong to the
// wrapped command (guard) and are not the step's.
func flagsUsed(app *cli.App, args []string) (sub string, flags []string) {
	if len(app.Commands) > 0 && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	for _, a := range args {
		switch {
		case a == "--":
			return sub, flags
		case strings.HasPrefix(a, "{{="):
			for _, m := range flagInExpr.FindAllStringSubmatch(a, -1) {
				flags = append(flags, m[1])
			}
		case strings.HasPrefix(a, "--"):
			flags = append(flags, strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0])
		case strings.HasPrefix(a, "-") && len(a) > 1 && !strings.HasPrefix(a, "-{"):
			flags = append(flags, strings.SplitN(strings.TrimPrefix(a, "-"), "=", 2)[0])
		}
	}
	return sub, flags
}

// checkStepFlags returns one error per flag, env var or subcommand that the
// step's CLI does not define.
func checkStepFlags(ivs []invocation) []error {
	var errs []error
	for _, iv := range ivs {
		if iv.step == "" {
			continue
		}
		newApp, ok := stepApps[iv.step]
		if !ok {
			errs = append(errs, fmt.Errorf("%s runs step %q, which has no CLI registered in stepApps (is pkg/steps/%s missing?)", iv, iv.step, iv.step))
			continue
		}
		app := newApp()
		sub, used := flagsUsed(app, iv.args)
		known := flagSet(app.Flags)
		if len(app.Commands) > 0 {
			cmd := app.Command(sub)
			if cmd == nil {
				errs = append(errs, fmt.Errorf("%s: step %s has no subcommand %q", iv, iv.step, sub))
				continue
			}
			for k, v := range flagSet(cmd.Flags) {
				known[k] = v
			}
		}
		for _, f := range used {
			if !known[f] {
				errs = append(errs, fmt.Errorf("%s: step %s %s has no flag --%s", iv, iv.step, sub, f))
			}
		}
		envs := envSet(app.Flags)
		if cmd := app.Command(sub); cmd != nil {
			for k := range envSet(cmd.Flags) {
				envs[k] = true
			}
		}
		for _, e := range iv.env {
			// The store layer reads its own variables (credentials and
			// where they come from), whatever the step's flags.
			if strings.HasPrefix(e, "MLSTATE_") && !envs[e] && e != storeurl.CredentialsSourceEnv {
				errs = append(errs, fmt.Errorf("%s: step %s %s reads no env var %s", iv, iv.step, sub, e))
			}
		}
	}
	return errs
}

func flagSet(flags []cli.Flag) map[string]bool {
	m := map[string]bool{"help": true, "h": true}
	for _, f := range flags {
		for _, n := range f.Names() {
			m[n] = true
		}
	}
	return m
}

func envSet(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, e := range ev.GetEnvVars() {
				m[e] = true
			}
		}
	}
	return m
}

func TestStepFlagsExist(t *testing.T) {
	ivs := invocations(loadDocs(t))
	n := 0
	for _, iv := range ivs {
		if iv.step != "" {
			n++
		}
	}
	if n == 0 {
		t.Fatal("found no step invocations")
	}
	for _, err := range checkStepFlags(ivs) {
		t.Error(err)
	}
	t.Logf("checked %d step invocations", n)
}
