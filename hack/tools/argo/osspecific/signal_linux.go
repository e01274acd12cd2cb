// Package osspecific holds the Linux file that Argo's v3.7.18 module lacks
// in workflow/executor/osspecific (it ships only the darwin and windows
// ones, so argoexec does not build for Linux from the module). It is never
// built on its own: hack/cluster-bins.sh lays it into Argo's package with
// `go build -overlay` when it builds argoexec.
//
// The contract, from the package's callers (the emissary in
// cmd/argoexec/commands/emissary.go and StartCommand in command_unix.go):
// Term is the signal that asks a process to stop; CanIgnoreSignal names the
// signals the emissary must not forward to its child; Kill signals the
// child's whole process group; Setpgid makes the child lead its own group;
// Wait waits for the child and turns its end into an exit error, reaping
// every other child on the way, because the emissary is PID 1 of its
// container and orphans are re-parented to it.
package osspecific

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	argoerrors "github.com/argoproj/argo-workflows/v3/util/errors"
)

// Term is what Kubernetes sends a container to stop it.
var Term os.Signal = syscall.SIGTERM

// CanIgnoreSignal reports the signals that concern the emissary itself:
// SIGCHLD tells it a child ended (Wait reaps it), SIGURG is the Go
// runtime's own preemption signal. Forwarding them would confuse the child.
func CanIgnoreSignal(s os.Signal) bool {
	switch s {
	case syscall.SIGCHLD, syscall.SIGURG:
		return true
	}
	return false
}

// Kill sends s to pid's process group, so a shell's children stop with it,
// or to pid alone when its group cannot be found.
func Kill(pid int, s syscall.Signal) error {
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 0 {
		return syscall.Kill(-pgid, s)
	}
	return syscall.Kill(pid, s)
}

// Setpgid makes the child the leader of a new process group, the group
// Kill signals.
func Setpgid(a *syscall.SysProcAttr) { a.Setpgid = true }

// Wait blocks until process ends and returns nil for exit status 0, or an
// exit error carrying its status (128+signal when a signal ended it). It
// releases the os.Process and reaps with wait4 on any child instead: as
// PID 1 the emissary inherits the orphans of the user's command, and their
// zombies are reaped here too.
func Wait(process *os.Process) error {
	pid := process.Pid
	if err := process.Release(); err != nil {
		return fmt.Errorf("release process %d: %w", pid, err)
	}
	for {
		var status syscall.WaitStatus
		got, err := syscall.Wait4(-1, &status, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for process %d: %w", pid, err)
		}
		if got != pid {
			continue // an orphan, now reaped
		}
		switch {
		case status.Exited():
			return argoerrors.NewExitErr(status.ExitStatus())
		case status.Signaled():
			return argoerrors.NewExitErr(128 + int(status.Signal()))
		}
		// Stopped or continued: the process has not ended yet.
	}
}
