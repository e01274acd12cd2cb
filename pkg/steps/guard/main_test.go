package guard_test

import (
	"os"
	"testing"

	"github.com/mlstate/mlstate/pkg/stepcli"
	"github.com/mlstate/mlstate/pkg/steps/guard"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// execEnv makes the test binary act as the guard binary, so the signal
// test can run guard as a real process without building it.
const execEnv = "MLSTATE_GUARD_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		stepcli.Main(guard.App())
	}
	testsupport.Main(m)
}
