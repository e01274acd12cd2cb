// Package catalog is the command line of the catalog step: list, show,
// verify, compare and prune a pipeline's restore points, for people and for
// CronWorkflows.
package catalog

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/restorepoint"
	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/store"
	"github.com/mlstate/mlstate/pkg/store/storeurl"
)

// App returns the catalog step's command line.
func App() *cli.App {
	return &cli.App{
		Name:  "catalog",
		Usage: "list, show, verify, diff and prune a pipeline's restore points",
		UsageText: `catalog list   --store URL --pipeline NAME [--output table|json|yaml]
   catalog show   --store URL --pipeline NAME ID
   catalog verify --store URL --pipeline NAME (ID... | --all)
   catalog diff   --store URL --pipeline NAME OLDER_ID NEWER_ID
   catalog prune  --store URL (--pipeline NAME | --all-pipelines) --keep-last N --keep-within DURATION [--dry-run] [--force]`,
		Description: `verify exits 12 and lists what is broken: a missing chunk, a chunk whose
content does not match its digest, a missing tree, or a Kanister action whose
recorded artifacts are empty or unrendered {{ }} templates.

prune removes the restore points the retention does not keep: for each, the
Blueprint's delete action runs first with the record's artifacts (Kanister's
backup data goes too), then the record is deleted; a failed delete keeps the
record and prune exits 13 after doing the rest. Then chunks and trees that no
restore point of any pipeline (the store is shared) and no latest "stage push"
name needs are swept, never a chunk a push in progress may use. prune refuses,
without --force, to run with no retention or to remove every restore point.

` + stepcli.ExitCodesHelp,
		Commands: []*cli.Command{listCommand(), showCommand(), verifyCommand(), diffCommand(), pruneCommand()},
	}
}

func commonFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		stepcli.StoreFlag(), stepcli.PipelineFlag(), stepcli.VerboseFlag(),
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "output format: table, json or yaml", EnvVars: []string{"MLSTATE_OUTPUT_FORMAT"}},
	}, extra...)
}

// env is what every subcommand starts from.
type env struct {
	st       store.Store
	pipeline string
	format   string
	out      io.Writer
	log      *slog.Logger
}

// setup checks the common flags (all problems at once, with the command's
// own) and opens the store.
func setup(c *cli.Context, needPipeline bool, problems ...error) (*env, error) {
	e := &env{pipeline: c.String("pipeline"), format: c.String("output"), out: c.App.Writer,
		log: stepcli.Logger(c.App.ErrWriter, c.Bool("verbose")).With("step", "catalog", "command", c.Command.Name)}
	for _, a := range c.Args().Slice() {
		if strings.HasPrefix(a, "-") && a != "-" {
			problems = append(problems, fmt.Errorf("flag %s after the arguments: flags go first, e.g. catalog %s --store URL --pipeline NAME ID", a, c.Command.Name))
			break
		}
	}
	if c.String("store") == "" {
		problems = append(problems, fmt.Errorf("no store given: set --store or MLSTATE_STORE"))
	}
	if needPipeline {
		if err := restorepoint.ValidatePipeline(e.pipeline); err != nil {
			problems = append(problems, err)
		}
	}
	switch e.format {
	case "table", "json", "yaml":
	default:
		problems = append(problems, fmt.Errorf("--output %q: want table, json or yaml", e.format))
	}
	var real []error
	for _, p := range problems {
		if p != nil {
			real = append(real, p)
		}
	}
	if len(real) > 0 {
		return nil, exitcode.With(exitcode.Usage, joinErrors(real))
	}
	st, err := storeurl.Open(c.Context, c.String("store"), storeurl.Options{})
	if err != nil {
		return nil, err
	}
	e.st = st
	return e, nil
}

// print writes v as JSON or YAML; table output is each command's own.
func (e *env) print(v any) error {
	if e.format == "yaml" {
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = e.out.Write(b)
		return err
	}
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "; "
		}
		msg += e.Error()
	}
	return fmt.Errorf("%s", msg)
}
