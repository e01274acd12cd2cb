package testsupport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// PrivateMinIO is a MinIO server of one test's own, which the test may kill
// (SIGKILL, no shutdown) and restart on the same port and data: for fault
// injection. Use MinIO for everything else.
type PrivateMinIO struct {
	*MinIOServer
	bin, data string
	console   int
}

// StartPrivateMinIO starts a MinIO server for t alone; it is killed when
// t ends.
func StartPrivateMinIO(t testing.TB) *PrivateMinIO {
	t.Helper()
	skipShort(t)
	bin := MinIOBinary(t)
	if bin == "" {
		missing(t, "MinIO server binary")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	console, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &PrivateMinIO{bin: bin, data: filepath.Join(t.TempDir(), "data"), console: console}
	p.MinIOServer = &MinIOServer{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: "mlstate" + randHex(6),
		SecretKey: randHex(20),
	}
	p.URL = "http://" + p.Endpoint
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	p.Client, err = minio.New(p.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(p.AccessKey, p.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs the server (again) and waits, at most a minute, until it is ready.
func (p *PrivateMinIO) Start() error {
	p.log = &lockedBuffer{}
	p.exited = make(chan struct{})
	p.cmd = exec.Command(p.bin, "server", "--quiet", "--address", p.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", p.console), p.data)
	p.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+p.AccessKey, "MINIO_ROOT_PASSWORD="+p.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", p.bin, err)
	}
	exited := p.exited
	cmd := p.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	return p.waitReady(time.Minute)
}

// Kill stops the server with SIGKILL and waits for it to exit.
func (p *PrivateMinIO) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}
