package snapshot_test

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mlstate/mlstate/pkg/steps/stage"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestMain(m *testing.M) {
	// The mlstate-stage Blueprint's pods run this binary as the stage step.
	testsupport.ActAsStep(map[string]func() *cli.App{"stage": stage.App})
	testsupport.Main(m)
}
