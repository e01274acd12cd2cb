package guard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"
)

// CodeCannotStart is the exit status when the command cannot be started,
// as shells use it.
const CodeCannotStart = 127

// ErrCannotStart: the command was not found or is not executable.
var ErrCannotStart = errors.New("command cannot be started")

// Forwarded are the signals passed on to the command. SIGTERM is what Argo
// and Kubernetes send to stop a pod.
var Forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Command is what to run. Nil streams read nothing and discard output.
type Command struct {
	// Args is the command and its arguments; Args[0] is looked up in PATH
	// when it has no slash.
	Args   []string
	Dir    string   // working directory; "" is the current one
	Env    []string // environment; nil inherits guard's
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// OnSignal, if not nil, is called with every signal forwarded.
	OnSignal func(os.Signal)
}

// Result is how the command ended.
type Result struct {
	// Code is the exit status: the command's own, or 128+N when signal N
	// killed it.
	Code int
	// KilledBy names the signal that killed the command, if one did.
	KilledBy string
	// Received is the first signal guard received and forwarded, if any.
	Received os.Signal
}

// Resolve checks that the command can be started, before anything else is
// done for it, and returns its path. The error matches ErrCannotStart.
func Resolve(args []string) (string, error) {
	if len(args) == 0 || args[0] == "" {
		return "", fmt.Errorf("%w: no command given", ErrCannotStart)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrCannotStart, args[0], cause(err))
	}
	return path, nil
}

func cause(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

// Run starts the command and forwards signals to it until it exits. The
// error is only for a command that could not be started (ErrCannotStart);
// a command that ran and failed is a Result with a non-zero Code.
//
// Run has no context on purpose: stopping the command is the signals' job.
// Guard forwards them and waits for the command to decide, as the Argo
// emissary does for its own child.
//
// Without a terminal the command runs in a process group of its own and
// signals go to the whole group, so the children of a shell script get them
// too. On a terminal it stays in guard's group, which the terminal signals
// itself on Ctrl-C, so SIGINT and SIGQUIT are not forwarded a second time.
func Run(c Command) (Result, error) {
	path, err := Resolve(c.Args)
	if err != nil {
		return Result{}, err
	}
	cmd := &exec.Cmd{Path: path, Args: c.Args, Dir: c.Dir, Env: c.Env, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr}
	// Output copied through pipes must not keep guard waiting for ever when
	// a grandchild holds them open after the command exited.
	cmd.WaitDelay = 5 * time.Second
	onTTY := isTerminal(c.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: !onTTY}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, Forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("%w: %s: %v", ErrCannotStart, c.Args[0], cause(err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var res Result
	for {
		select {
		case s := <-sigs:
			if res.Received == nil {
				res.Received = s
			}
			forward(cmd.Process.Pid, s.(syscall.Signal), onTTY)
			if c.OnSignal != nil {
				c.OnSignal(s)
			}
		case err := <-done:
			return finish(res, cmd, err)
		}
	}
}

func forward(pid int, s syscall.Signal, onTTY bool) {
	if onTTY {
		if s == syscall.SIGINT || s == syscall.SIGQUIT {
			return
		}
		_ = syscall.Kill(pid, s)
		return
	}
	// The negative pid names the process group.
	if syscall.Kill(-pid, s) != nil {
		_ = syscall.Kill(pid, s)
	}
}

func finish(res Result, cmd *exec.Cmd, err error) (Result, error) {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		res.Code = 128 + int(ws.Signal())
		res.KilledBy = signalName(ws.Signal())
	case cmd.ProcessState != nil:
		res.Code = cmd.ProcessState.ExitCode()
	default:
		return res, fmt.Errorf("wait for %s: %w", cmd.Path, err)
	}
	return res, nil
}

func signalName(s syscall.Signal) string {
	for name, sig := range signalNames {
		if sig == s {
			return "SIG" + name
		}
	}
	return s.String()
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Describe says how a command ended, for messages.
func (r Result) Describe() string {
	if r.KilledBy != "" {
		return fmt.Sprintf("was killed by %s (status %d)", r.KilledBy, r.Code)
	}
	return fmt.Sprintf("exited with status %d", r.Code)
}
