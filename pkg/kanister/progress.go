package kanister

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mlstate/mlstate/pkg/progress"
)

// Progress is what Run reports on every visible change of an ActionSet.
type Progress struct {
	Namespace, Name string
	State           string // "" until Kanister writes a status
	RunningPhase    string
	// PercentCompleted is Kanister's status.progress.percentCompleted.
	PercentCompleted int
	// CompletedPhases of TotalPhases, over all actions (defer phases excluded).
	CompletedPhases, TotalPhases int
}

// observe takes in a new version of the ActionSet and updates the clocks,
// the log, the callback and the progress file.
func (w *waiter) observe(u *unstructured.Unstructured) {
	w.obj = u
	var st Status
	if raw, ok, _ := unstructured.NestedMap(u.Object, "status"); ok {
		if err := fromJSONValue(raw, &st); err != nil {
			w.c.log().Warn("cannot decode ActionSet status", "actionset", w.ns+"/"+w.name, "err", err)
			st.State = stateOf(u)
		}
	}
	w.status = st
	now := time.Now()
	if st.State == StatePending && w.pendingAt.IsZero() {
		w.pendingAt = now
	}
	if st.State == StateRunning && w.runningAt.IsZero() {
		w.runningAt, w.nextCheck = now, now // look at the controller at once
	}
	if w.ended() && w.settleBy.IsZero() {
		w.settleBy, w.nextCheck = now.Add(w.t.Settle), now
	}
	w.noteUnsettled()
	p := Progress{Namespace: w.ns, Name: w.name, State: st.State, RunningPhase: st.Progress.RunningPhase}
	p.PercentCompleted, _ = strconv.Atoi(st.Progress.PercentCompleted)
	for _, a := range st.Actions {
		for _, ph := range a.Phases {
			p.TotalPhases++
			if ph.State == StateComplete {
				p.CompletedPhases++
			}
		}
	}
	if p == w.last {
		return
	}
	w.last = p
	w.c.log().Info("ActionSet progress", "actionset", w.ns+"/"+w.name, "state", p.State,
		"runningPhase", p.RunningPhase, "percentCompleted", p.PercentCompleted,
		"phases", fmt.Sprintf("%d/%d", p.CompletedPhases, p.TotalPhases))
	if p.TotalPhases > 0 {
		if path := w.c.progressFile(); path != "" {
			if err := progress.WriteArgoFile(path, int64(p.CompletedPhases), int64(p.TotalPhases)); err != nil {
				w.c.log().Warn("cannot write the Argo progress file", "err", err)
			}
		}
	}
	if w.onProgress != nil {
		w.onProgress(p)
	}
}

func (c *Client) progressFile() string {
	switch c.ProgressFile {
	case "-":
		return ""
	case "":
	default:
		return c.ProgressFile
	}
	return os.Getenv("ARGO_PROGRESS_FILE")
}
