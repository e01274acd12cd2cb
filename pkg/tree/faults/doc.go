// Package faults holds the staging engine's fault-injection suite (tests
// only): real MinIO killed and restarted mid-transfer, a proxy that
// corrupts, cuts and stalls connections, a full target file system, real
// `stage` and `catalog` processes killed with SIGKILL at random points, and
// pushes racing prunes. After every fault the previous state is intact or
// the new one is complete and verified, and the next normal run succeeds
// without manual cleanup. Each test logs how many faults it injected.
package faults
