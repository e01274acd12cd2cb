//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mlstate/mlstate/pkg/testsupport"
)

// startMinIO runs the test MinIO on the node's address, where pods reach it,
// and returns its endpoint (host:port). It stops when the test ends.
func startMinIO(t *testing.T, nodeIP string) (endpoint, user, password string) {
	t.Helper()
	bin := os.Getenv("MLSTATE_MINIO_BIN")
	if bin == "" {
		bin = filepath.Join("..", "bin", "testenv", "minio", "minio")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("MinIO server binary %s: %v (make testenv builds it)", bin, err)
	}
	l, err := net.Listen("tcp", nodeIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint = l.Addr().String()
	l.Close()
	user, password = "e2e-user", "e2e-password-not-secret"
	cmd := exec.Command(bin, "server", "--quiet", "--address", endpoint,
		"--console-address", nodeIP+":0", filepath.Join(t.TempDir(), "data"))
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+user, "MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	logPath := filepath.Join(t.TempDir(), "minio.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	testsupport.Eventually(t, time.Minute, "MinIO on "+endpoint, func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+endpoint+"/minio/health/live", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("status %s; log:\n%s", resp.Status, readTail(logPath))
	})
	return endpoint, user, password
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
