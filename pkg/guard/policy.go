package guard

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// DefaultPolicy restores after any failure: every non-zero exit status,
// including 128+N for a command killed by signal N (143 for Argo's SIGTERM).
const DefaultPolicy = "nonzero"

// Policy decides, from a command's exit status, whether guard restores the
// snapshot. Status 0 never restores: a command that succeeded is never undone.
//
// Syntax: a comma-separated list of terms, applied left to right.
//
//	nonzero, any, failure   every status 1-255 (the default)
//	never, none             nothing: snapshot only, never restore
//	N                       status N (1-255)
//	N-M                     statuses N to M
//	SIGTERM, TERM, SIGINT…  a command killed by (or exiting on) that signal: 128+N
//	!TERM                   any term above prefixed with ! removes it again
//
// A list that only removes ("!3", "!SIGTERM") starts from nonzero, so
// "!3" means "restore after any failure except status 3". Examples:
// "1-255,!3", "1,2,SIGTERM", "nonzero,!SIGINT".
type Policy struct {
	restore [256]bool
	text    string
}

// ParsePolicy reads a --restore-on value; "" is DefaultPolicy.
func ParsePolicy(s string) (Policy, error) {
	p := Policy{text: strings.TrimSpace(s)}
	if p.text == "" {
		p.text = DefaultPolicy
	}
	terms := strings.Split(p.text, ",")
	onlyRemovals := true
	for _, t := range terms {
		if t = strings.TrimSpace(t); !strings.HasPrefix(t, "!") {
			onlyRemovals = false
		}
	}
	if onlyRemovals {
		p.set(1, 255, true)
	}
	for _, t := range terms {
		t = strings.TrimSpace(t)
		on := true
		if rest, ok := strings.CutPrefix(t, "!"); ok {
			on, t = false, strings.TrimSpace(rest)
		}
		lo, hi, err := parseTerm(t)
		if err != nil {
			return Policy{}, fmt.Errorf("--restore-on %q: %w", p.text, err)
		}
		p.set(lo, hi, on)
	}
	return p, nil
}

// Restores reports whether a command that exited with code is restored.
func (p Policy) Restores(code int) bool {
	return code > 0 && code < len(p.restore) && p.restore[code]
}

// String is the policy as it was written.
func (p Policy) String() string { return p.text }

func (p *Policy) set(lo, hi int, on bool) {
	for c := lo; c <= hi; c++ {
		p.restore[c] = on
	}
}

// parseTerm returns the inclusive status range a term names; lo > hi for
// "never".
func parseTerm(t string) (lo, hi int, err error) {
	switch strings.ToLower(t) {
	case "":
		return 0, 0, fmt.Errorf("empty term: separate terms with single commas")
	case "nonzero", "any", "failure":
		return 1, 255, nil
	case "never", "none":
		return 1, 0, nil
	}
	if sig, ok := signalNumber(t); ok {
		return 128 + sig, 128 + sig, nil
	}
	a, b, isRange := strings.Cut(t, "-")
	lo, err = status(a, t)
	if err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = status(b, t); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %q runs backwards", t)
		}
	}
	return lo, hi, nil
}

func status(s, term string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not an exit status, a range N-M, a signal name like SIGTERM, or one of nonzero, any, never", term)
	}
	if n == 0 {
		return 0, fmt.Errorf("%q: status 0 is success, which guard never restores", term)
	}
	if n < 0 || n > 255 {
		return 0, fmt.Errorf("%q: exit statuses run from 1 to 255", term)
	}
	return n, nil
}

var signalNames = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ABRT": syscall.SIGABRT,
	"KILL": syscall.SIGKILL, "SEGV": syscall.SIGSEGV, "PIPE": syscall.SIGPIPE, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "BUS": syscall.SIGBUS, "FPE": syscall.SIGFPE,
	"ILL": syscall.SIGILL, "XCPU": syscall.SIGXCPU,
}

func signalNumber(t string) (int, bool) {
	name := strings.TrimPrefix(strings.ToUpper(t), "SIG")
	sig, ok := signalNames[name]
	return int(sig), ok
}
