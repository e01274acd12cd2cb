// Package guard runs a command the way a wrapper in a container must: its
// output streamed, its input passed on, termination signals forwarded to it,
// and its exit status kept (128+N when signal N killed it). It also holds
// the --restore-on policy that decides which statuses count as failures, and
// Install, which copies the running binary into a shared volume so that an
// image without a shell can run it as a wrapper.
//
// The guard step (pkg/steps/guard) puts these together with a snapshot
// before the command and a restore after a failure. Its exit status is the
// command's, except:
//
//	3    usage: no "--" or no command, bad flags
//	70   the command failed and the restore after it failed too (exitcode.RestoreAfterFailure)
//	127  the command cannot be started (not found, not executable)
//
// and the snapshot step's codes when the snapshot fails (the command is then
// not run).
package guard
