// Package progress reports how far a long transfer has got, in the form its
// reader can use: a redrawn bar on a terminal, a structured log line every
// few seconds in a pod, and "N/M" in ARGO_PROGRESS_FILE so the Argo UI shows
// the step's progress.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Options configure a Reporter. The zero value reports nothing.
type Options struct {
	// Label names the transfer ("push", "pull").
	Label string
	// Terminal, when not nil, gets a progress bar redrawn in place.
	Terminal io.Writer
	// Logger, when not nil and Terminal is nil, gets a line every LogEvery.
	Logger *slog.Logger
	// LogEvery is the log interval; 0 means 5s.
	LogEvery time.Duration
	// ArgoFile, when set, receives "N/M" every 3s and at the end.
	ArgoFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// FromEnv returns Options for a step: a bar when stderr is a terminal, log
// lines otherwise, and ARGO_PROGRESS_FILE from the environment.
func FromEnv(label string, stderr io.Writer, log *slog.Logger) Options {
	o := Options{Label: label, Logger: log, ArgoFile: os.Getenv("ARGO_PROGRESS_FILE")}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Terminal, o.Logger = stderr, nil
	}
	return o
}

// Reporter counts bytes done out of a total. It implements tree.Counter.
type Reporter struct {
	opts        Options
	total, done atomic.Int64
	start       time.Time
	stop        chan struct{}
	wg          sync.WaitGroup
	once        sync.Once
}

// Start begins reporting until Stop.
func Start(opts Options) *Reporter {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = 5 * time.Second
	}
	r := &Reporter{opts: opts, start: opts.Now(), stop: make(chan struct{})}
	if opts.Terminal != nil || opts.Logger != nil || opts.ArgoFile != "" {
		r.wg.Add(1)
		go r.loop()
	}
	return r
}

// SetTotal sets the number of bytes the transfer will move.
func (r *Reporter) SetTotal(n int64) { r.total.Store(n) }

// Add records n more bytes done.
func (r *Reporter) Add(n int64) { r.done.Add(n) }

// Stop reports the final state once and ends reporting.
func (r *Reporter) Stop() {
	r.once.Do(func() {
		close(r.stop)
		r.wg.Wait()
		r.report(true)
	})
}

func (r *Reporter) loop() {
	defer r.wg.Done()
	tick := 3 * time.Second
	if r.opts.Terminal != nil {
		tick = 200 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	lastLog := r.start
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.writeArgo()
			if r.opts.Terminal != nil {
				r.bar(false)
			} else if now := r.opts.Now(); r.opts.Logger != nil && now.Sub(lastLog) >= r.opts.LogEvery {
				lastLog = now
				r.log()
			}
		}
	}
}

func (r *Reporter) report(final bool) {
	r.writeArgo()
	switch {
	case r.opts.Terminal != nil:
		r.bar(final)
	case r.opts.Logger != nil && final:
		r.log()
	}
}

func (r *Reporter) writeArgo() {
	if r.opts.ArgoFile != "" {
		_ = WriteArgoFile(r.opts.ArgoFile, r.done.Load(), r.total.Load())
	}
}

// rate returns bytes per second and the estimated time left.
func (r *Reporter) rate() (float64, time.Duration) {
	el := r.opts.Now().Sub(r.start).Seconds()
	done, total := r.done.Load(), r.total.Load()
	if el <= 0 || done == 0 {
		return 0, 0
	}
	bps := float64(done) / el
	left := time.Duration(float64(total-done) / bps * float64(time.Second))
	if left < 0 {
		left = 0
	}
	return bps, left.Round(time.Second)
}

func (r *Reporter) log() {
	bps, eta := r.rate()
	r.opts.Logger.Info("progress", "op", r.opts.Label, "bytes", r.done.Load(), "total", r.total.Load(),
		"bytes_per_second", int64(bps), "eta", eta.String())
}

func (r *Reporter) bar(final bool) {
	done, total := r.done.Load(), r.total.Load()
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	fill := int(frac * width)
	bps, eta := r.rate()
	line := fmt.Sprintf("\r%s [%s%s] %s/%s %s/s ETA %s ", r.opts.Label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		Bytes(done), Bytes(total), Bytes(int64(bps)), eta)
	if final {
		line += "\n"
	}
	_, _ = io.WriteString(r.opts.Terminal, line)
}

// Bytes formats n in binary units ("1.5 MiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// WriteArgoFile writes "n/m" to path atomically, the format Argo reads from
// ARGO_PROGRESS_FILE. m is at least 1 so the fraction is always valid.
func WriteArgoFile(path string, n, m int64) error {
	if m < 1 {
		m = 1
	}
	n = max(0, min(n, m))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".progress-*")
	if err != nil {
		return fmt.Errorf("write progress file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%d/%d", n, m)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write progress file: %w", err)
	}
	return nil
}
