// Command cluster starts a real single-node Kubernetes cluster on this
// machine (see e2e/cluster) and stops it again. As root, after
// `make cluster-bins`:
//
//	go run ./hack/cluster up            # until Ctrl-C; prints KUBECONFIG
//	go run ./hack/cluster run -- CMD…   # start, run CMD with KUBECONFIG set, stop
//	go run ./hack/cluster clean         # remove clusters left by killed processes
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/mlstate/mlstate/e2e/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code, err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(ctx context.Context, args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("usage: cluster up | run -- CMD [ARGS…] | clean")
	}
	if args[0] == "clean" {
		cluster.SweepStale(ctx, os.Stderr)
		return 0, nil
	}
	if args[0] != "up" && args[0] != "run" {
		return 2, fmt.Errorf("unknown command %q (up, run, clean)", args[0])
	}
	root, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	opts, err := cluster.RepoOptions(ctx, root)
	if err != nil {
		return 1, err
	}
	opts.Log = os.Stderr
	start := time.Now()
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return 1, err
	}
	defer func() {
		t := time.Now()
		if err := c.Stop(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(os.Stderr, "cluster: stop: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "cluster: stopped in %s\n", time.Since(t).Round(time.Millisecond))
	}()
	fmt.Fprintf(os.Stderr, "cluster: up in %s (", time.Since(start).Round(time.Millisecond))
	for i, t := range c.Timings {
		if i > 0 {
			fmt.Fprint(os.Stderr, ", ")
		}
		fmt.Fprintf(os.Stderr, "%s %s", t.Phase, t.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(os.Stderr, ")\ncluster: node address %s, logs in %s/logs\nexport KUBECONFIG=%s\n", c.NodeIP, c.Dir, c.Kubeconfig)

	if args[0] == "up" {
		select {
		case <-ctx.Done():
		case <-watch(ctx, c):
		}
		return 0, c.Err()
	}
	cmdArgs := args[1:]
	if len(cmdArgs) > 0 && cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	if len(cmdArgs) == 0 {
		return 2, errors.New("run needs a command after --")
	}
	cmd := exec.CommandContext(ctx, cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "MLSTATE_E2E_NODE_IP="+c.NodeIP)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 1, err
	}
	return 0, nil
}

// watch closes its channel when a component of c exits.
func watch(ctx context.Context, c *cluster.Cluster) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for ctx.Err() == nil && c.Err() == nil {
			time.Sleep(time.Second)
		}
	}()
	return ch
}
