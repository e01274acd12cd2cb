package kanister_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/mlstate/mlstate/pkg/exitcode"
	"github.com/mlstate/mlstate/pkg/kanister"
	"github.com/mlstate/mlstate/pkg/testsupport"
)

func TestTimeoutsSayWhatToSuspect(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		noController bool
		behave       testsupport.StandInBehaviour
		which, want  string
	}{
		{"no controller", true, testsupport.StandInBehaviour{}, "no-status", "is the Kanister controller running in namespace"},
		{"invalid spec", false, testsupport.StandInBehaviour{NoStatus: true}, "no-status", "Kanister writes no status for an invalid spec"},
		{"stuck pending", false, testsupport.StandInBehaviour{HoldPending: true}, "pending", "never started running"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tc.noController)
			if e.standin != nil {
				e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour { return tc.behave })
			}
			// Only the timer under test is short: on a loaded machine the
			// stand-in may take seconds to move an ActionSet on, and a
			// short earlier timer would fire first and name the wrong cause.
			long := testsupport.WaitTimeout
			e.client.Timeouts = kanister.Timeouts{NoStatus: long, Pending: long}
			switch short := 800 * time.Millisecond; tc.which {
			case "no-status":
				e.client.Timeouts.NoStatus = short
			case "pending":
				e.client.Timeouts.Pending = short
			}
			_, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
			var te *kanister.TimeoutError
			if !errors.As(err, &te) || te.Which != tc.which || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a %s timeout saying %q", err, tc.which, tc.want)
			}
			if exitcode.Of(err) != exitcode.Kanister || !strings.Contains(err.Error(), e.ns) {
				t.Fatalf("exit %d for %v; want 13 and the namespace named", exitcode.Of(err), err)
			}
		})
	}
}

func TestOverallTimeout(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{HoldPending: true}
	})
	e.client.Timeouts.Overall = 500 * time.Millisecond
	_, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
	var te *kanister.TimeoutError
	if !errors.As(err, &te) || te.Which != "overall" || exitcode.Of(err) != exitcode.Kanister || !strings.Contains(err.Error(), "Kanister may still be working on it") {
		t.Fatalf("got %v (exit %d), want an overall timeout leaving the ActionSet to Kanister", err, exitcode.Of(err))
	}
	if strings.Contains(err.Error(), "delete") {
		t.Fatalf("the overall timeout advises deleting an ActionSet Kanister may still be working on: %v", err)
	}
}

// cutWatches ends every watch response after its first event, the way a
// dropped connection or an API server restart ends a watch mid-wait.
type cutWatches struct {
	rt      http.RoundTripper
	watches atomic.Int64
}

func (c *cutWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(req)
	if err != nil || req.URL.Query().Get("watch") != "true" {
		return resp, err
	}
	c.watches.Add(1)
	resp.Body = &firstLine{rc: resp.Body}
	return resp, nil
}

// firstLine passes one newline-terminated JSON watch event, then EOF.
type firstLine struct {
	rc   io.ReadCloser
	done bool
}

func (f *firstLine) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	n, err := f.rc.Read(p)
	if i := strings.IndexByte(string(p[:n]), '\n'); i >= 0 {
		f.done = true
		return i + 1, nil
	}
	return n, err
}

func (f *firstLine) Close() error { return f.rc.Close() }

func TestWatchInterruptedMidWait(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{PhaseDelay: 100 * time.Millisecond}
	})
	cut := &cutWatches{}
	cfg := rest.CopyConfig(e.k.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { cut.rt = rt; return cut }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client.Dynamic = dyn
	res, err := e.client.Run(context.Background(), e.backupRequest(""), nil)
	if err != nil {
		t.Fatalf("Run with watches cut after one event: %v", err)
	}
	if res.Actions[0].Artifacts["volBackup"].KeyValue["backupTag"] == "" {
		t.Fatalf("no artifacts in %+v", res.Actions[0])
	}
	if n := cut.watches.Load(); n < 3 {
		t.Fatalf("only %d watches were established; the re-watch path was not exercised", n)
	}
}

func TestCancelStopsWaitingAndLeavesTheActionSet(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	e.standin.Behave(func(*unstructured.Unstructured) testsupport.StandInBehaviour {
		return testsupport.StandInBehaviour{FreezeRunning: true}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var name atomic.Value
	_, err := e.client.Run(ctx, e.backupRequest(""), func(p kanister.Progress) {
		name.Store(p.Name)
		if p.RunningPhase != "" {
			cancel() // what stepcli does on SIGTERM
		}
	})
	if !errors.Is(err, context.Canceled) || exitcode.Of(err) != exitcode.Cancelled {
		t.Fatalf("got %v (exit %d), want context.Canceled (130)", err, exitcode.Of(err))
	}
	ref := e.ns + "/" + name.Load().(string)
	if !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "left to Kanister") {
		t.Fatalf("message %q does not name %s or say it is left to Kanister", err, ref)
	}
	u, err := e.k.Dynamic.Resource(kanister.ActionSetGVR).Namespace(e.ns).Get(context.Background(), name.Load().(string), metav1.GetOptions{})
	if err != nil || u.GetDeletionTimestamp() != nil {
		t.Fatalf("the ActionSet should be left in place: %v", err)
	}
}

// goneWatches answers the first n watch requests with 410 Gone, as an API
// server does when the resourceVersion has been compacted away.
type goneWatches struct {
	rt   http.RoundTripper
	n    int64
	gone atomic.Int64
}

func (g *goneWatches) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") != "true" || g.gone.Add(1) > g.n {
		return g.rt.RoundTrip(req)
	}
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}`
	return &http.Response{StatusCode: http.StatusGone, Status: "410 Gone", Request: req,
		Header: http.Header{"Content-Type": []string{"application/json"}},
		Body:   io.NopCloser(strings.NewReader(body))}, nil
}

func TestWatchGoneReReadsTheActionSet(t *testing.T) {
	t.Parallel()
	e := setup(t, false)
	gone := &goneWatches{n: 2}
	cfg := rest.CopyConfig(e.k.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { gone.rt = rt; return gone }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client.Dynamic = dyn
	if _, err := e.client.Run(context.Background(), e.backupRequest(""), nil); err != nil {
		t.Fatalf("Run with watches answered 410 Gone: %v", err)
	}
	if gone.gone.Load() < 3 {
		t.Fatalf("only %d watch requests; the 410 path was not exercised", gone.gone.Load())
	}
}
