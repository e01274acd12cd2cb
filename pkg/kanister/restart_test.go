package kanister_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

// podLists counts the requests that list pods, to show the controller was
// looked at.
type podLists struct {
	rt http.RoundTripper
	n  atomic.Int64
}

func (c *podLists) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/pods") {
		c.n.Add(1)
	}
	return c.rt.RoundTrip(req)
}

func countPodLists(t *testing.T, e *env) *podLists {
	t.Helper()
	c := &podLists{}
	cfg := rest.CopyConfig(e.k.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { c.rt = rt; return c }
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client.Kube = kube
	return c
}

// TestQuietPhaseIsNotAStall: Kanister writes nothing while a data function
// runs (progress only on a percentage change, and functions report 0 and
// 100), so a phase that is silent for many restart-check intervals must
// simply be waited for.
func TestQuietPhaseIsNotAStall(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	pods := countPodLists(t, e)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{PhaseDelay: 2 * time.Second}
	})
	if _, err := e.client.Run(context.Background(), e.backupRequest(""), nil); err != nil {
		t.Fatalf("a quiet phase failed the wait: %v", err)
	}
	// 2 phases × 2 s at one look per 100 ms: the controller was looked at
	// throughout, and found alive.
	if n := pods.n.Load(); n < 5 {
		t.Fatalf("the controller's pods were listed %d times; the restart check did not run", n)
	}
}

// runUntilRunning starts Run in the background and waits until the
// ActionSet runs its first phase.
func runUntilRunning(t *testing.T, e *env, ctx context.Context, name string) (done chan error) {
	t.Helper()
	var mu sync.Mutex
	var running bool
	done = make(chan error, 1)
	go func() {
		_, err := e.client.Run(ctx, e.backupRequest(name), func(p kanister.Progress) {
			mu.Lock()
			running = running || (p.State == kanister.StateRunning && p.RunningPhase != "")
			mu.Unlock()
		})
		done <- err
	}()
	var seen time.Time
	testsupport.Eventually(t, 0, "the ActionSet running a phase", func(context.Context) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		seen = time.Now()
		return running, "not running yet"
	})
	// Pod start times have whole seconds only, so a restart within the
	// second the ActionSet started running cannot be told from one just
	// before it: let that second pass.
	testsupport.Eventually(t, 0, "the next second", func(context.Context) (bool, string) {
		return time.Now().Truncate(time.Second).After(seen.Truncate(time.Second)), "same second"
	})
	return done
}

func TestControllerRestartFailsFast(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		act        func(*testsupport.KanisterStandIn)
	}{
		{"restarted", "started at", (*testsupport.KanisterStandIn).Restart},
		{"stopped", "no controller pod is running", (*testsupport.KanisterStandIn).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
				return testsupport.StandInBehaviour{PhaseDelay: time.Hour}
			})
			done := runUntilRunning(t, e, context.Background(), "")
			tc.act(e.standin)
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("no failure within 10 s of the controller restart")
			}
			var re *kanister.RestartError
			if !errors.As(err, &re) || !errors.Is(err, kanister.ErrControllerRestarted) || exitcode.Of(err) != exitcode.Kanister {
				t.Fatalf("got %v (exit %d), want a RestartError with exit 13", err, exitcode.Of(err))
			}
			for _, want := range []string{"when the Kanister controller restarted", tc.want, "never resumes", "nothing is working on it"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
		})
	}
}

// TestRestartBeforeAdoption: a retried step adopts an ActionSet that was
// already running when the controller restarted; the controller's "Started
// Action" Event dates the start, so the restart is still seen.
func TestRestartBeforeAdoption(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{PhaseDelay: time.Hour}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := runUntilRunning(t, e, ctx, "mlstate-backup-adopt")
	cancel()
	<-done
	e.standin.Restart()
	var err error
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_, err = e.client.Run(context.Background(), e.backupRequest("mlstate-backup-adopt"), nil)
	}()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the adopted ActionSet was not recognised as orphaned within 10 s")
	}
	if !errors.Is(err, kanister.ErrControllerRestarted) {
		t.Fatalf("got %v, want the restart named", err)
	}
}

// TestUnreadableControllerFallsBackToTimeout: when the controller's pods
// cannot be read, the wait says so once and only --timeout bounds it.
func TestUnreadableControllerFallsBackToTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{PhaseDelay: time.Hour}
	})
	var logs syncBuffer
	e.client.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e.client.ControllerSelector = "app=no-such-controller"
	e.client.Timeouts.Overall = 2 * time.Second
	_, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
	var te *kanister.TimeoutError
	if !errors.As(err, &te) || te.Which != "overall" {
		t.Fatalf("got %v, want the overall timeout", err)
	}
	if n := strings.Count(logs.String(), "cannot read the Kanister controller's pods"); n != 1 {
		t.Fatalf("the notice was logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "--timeout (2s)") {
		t.Fatalf("the notice does not name the --timeout that now bounds the wait:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
