package testsupport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOServer is a real MinIO server on a loopback port, shared by the tests
// of one package.
type MinIOServer struct {
	Endpoint  string // host:port
	URL       string // http://host:port
	AccessKey string
	SecretKey string
	Client    *minio.Client

	cmd     *exec.Cmd
	log     *lockedBuffer
	exited  chan struct{}
	buckets atomic.Int64
}

var (
	minioOnce sync.Once
	minioSrv  *MinIOServer
	minioErr  error
)

// MinIOBinary returns the path of the test MinIO server binary, or "".
func MinIOBinary(t testing.TB) string {
	p := os.Getenv("MLSTATE_MINIO_BIN")
	if p == "" {
		p = filepath.Join(RepoRoot(t), "bin", "testenv", "minio", "minio")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// MinIO returns the package's MinIO server, starting it on first use.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	skipShort(t)
	bin := MinIOBinary(t)
	if bin == "" {
		missing(t, "MinIO server binary")
	}
	minioOnce.Do(func() { minioSrv, minioErr = startMinIO(bin) })
	if minioErr != nil {
		t.Fatalf("start MinIO: %v", minioErr)
	}
	select {
	case <-minioSrv.exited:
		t.Fatalf("MinIO server exited during the tests; its log:\n%s", minioSrv.log.tail())
	default:
	}
	return minioSrv
}

func startMinIO(bin string) (*MinIOServer, error) {
	dir, err := os.MkdirTemp("", "mlstate-minio-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &MinIOServer{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey: "mlstate" + randHex(6),
		SecretKey: randHex(20),
		log:       &lockedBuffer{},
		exited:    make(chan struct{}),
	}
	s.URL = "http://" + s.Endpoint
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", s.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort), filepath.Join(dir, "data"))
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	onTeardown(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		_ = os.RemoveAll(dir)
	})
	if err := s.waitReady(60 * time.Second); err != nil {
		return nil, err
	}
	s.Client, err = minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *MinIOServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("MinIO exited before it was ready; its log:\n%s", s.log.tail())
		default:
		}
		resp, err := http.Get(s.URL + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("MinIO not ready after %s; its log:\n%s", timeout, s.log.tail())
}

// Bucket creates a new, empty bucket for one test and returns its name.
func (s *MinIOServer) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", s.buckets.Add(1), randHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// StoreURL returns an mlstate store URL for a fresh bucket (and prefix, if
// not empty) on this server.
func (s *MinIOServer) StoreURL(t testing.TB, prefix string) string {
	t.Helper()
	u := "s3://" + s.Bucket(t)
	if prefix != "" {
		u += "/" + strings.Trim(prefix, "/")
	}
	return u + "?endpoint=" + s.URL
}

// Env returns the environment a step needs to reach this server, in the
// form the steps read (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
func (s *MinIOServer) Env() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": s.AccessKey, "AWS_SECRET_ACCESS_KEY": s.SecretKey}
}

// SetEnv sets the credential variables for the rest of the test. Like
// t.Setenv, it cannot be used in parallel tests.
func (s *MinIOServer) SetEnv(t *testing.T) {
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}
