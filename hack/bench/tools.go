package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type minioServer struct {
	cmd              *exec.Cmd
	endpoint, ak, sk string
}

func startMinIO(bin, data string) (*minioServer, error) {
	port := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	s := &minioServer{endpoint: fmt.Sprintf("127.0.0.1:%d", port()), ak: "bench" + randHex(4), sk: randHex(16)}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", s.endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", port()), data)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.ak, "MINIO_ROOT_PASSWORD="+s.sk, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start MinIO %s: %w (run `make testenv`)", bin, err)
	}
	for range 600 {
		resp, err := http.Get("http://" + s.endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("MinIO did not get ready")
}

func (s *minioServer) stop() { _ = s.cmd.Process.Kill(); _ = s.cmd.Wait() }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type measure struct {
	secs     float64
	cpu      float64 // seconds of CPU (user + system): what the run costs whatever the machine's load
	rssKiB   int64
	uploaded int64 // bytes; -1 when the tool does not say
}

type tool interface {
	name() string
	push(src string) (measure, error)
	pull(dst string) (measure, error)
}

// runCmd runs a command and measures wall time and peak RSS of the process.
func runCmd(env []string, stdout io.Writer, name string, args ...string) (measure, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &errb
	// Flush what the previous command left dirty, so that its write-back
	// (and the fsyncs it slows down in MinIO) is not billed to this one:
	// without it, whichever tool runs right after a large write loses.
	syscall.Sync()
	start := time.Now()
	err := cmd.Run()
	m := measure{secs: time.Since(start).Seconds(), uploaded: -1}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssKiB = ru.Maxrss
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	if err != nil {
		tail := errb.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return m, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail)
	}
	return m, nil
}

// newTools makes mlstate and the named peers, each with its own bucket (or
// repository) for this shape, tagged tag.
func newTools(bin string, s *minioServer, work, tag string, peers []string) ([]tool, error) {
	base := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "MLSTATE_") && !strings.HasPrefix(kv, "RCLONE_") &&
			!strings.HasPrefix(kv, "MC_") && !strings.HasPrefix(kv, "RESTIC_") && !strings.HasPrefix(kv, "KOPIA_") {
			base = append(base, kv)
		}
	}
	base = slices.Clip(base) // each tool appends its own variables
	keys := []string{"AWS_ACCESS_KEY_ID=" + s.ak, "AWS_SECRET_ACCESS_KEY=" + s.sk}
	ml := &mlstate{bin: filepath.Join(bin, "stage"), store: "s3://mlstate-" + tag + "?endpoint=http://" + s.endpoint,
		env: append(append(base, keys...), "MLSTATE_OUTPUTS_DIR="+filepath.Join(work, "outputs"))}
	tools := []tool{ml}
	// mc makes the buckets of the peers that do not make their own.
	mc := &mcTool{bin: filepath.Join(bin, "mc"), bucket: "mc-" + tag,
		env: append(base, fmt.Sprintf("MC_HOST_bench=http://%s:%s@%s", s.ak, s.sk, s.endpoint), "MC_CONFIG_DIR="+filepath.Join(work, "mc-config"))}
	for _, p := range peers {
		var t tool
		var err error
		switch p {
		case "mc":
			_, err = runCmd(mc.env, io.Discard, mc.bin, "mb", "bench/"+mc.bucket)
			t = mc
		case "rclone":
			rc := &rcloneTool{bucket: "rclone-" + tag, env: append(base, "RCLONE_CONFIG_BENCH_TYPE=s3", "RCLONE_CONFIG_BENCH_PROVIDER=Minio",
				"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="+s.ak, "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="+s.sk,
				"RCLONE_CONFIG_BENCH_ENDPOINT=http://"+s.endpoint, "RCLONE_CONFIG=/dev/null")}
			_, err = runCmd(rc.env, io.Discard, "rclone", "mkdir", "bench:"+rc.bucket)
			t = rc
		case "restic":
			t, err = newRestic(filepath.Join(bin, "restic"), append(slices.Clip(base), keys...), s.endpoint, tag, work)
		case "kopia":
			if _, err = runCmd(mc.env, io.Discard, mc.bin, "mb", "bench/kopia-"+tag); err == nil {
				t, err = newKopia(filepath.Join(bin, "kopia"), base, s, tag, work)
			}
		default:
			err = fmt.Errorf("unknown peer %q (mc, rclone, restic, kopia)", p)
		}
		if err != nil {
			return nil, err
		}
		tools = append(tools, t)
	}
	return tools, nil
}

type mlstate struct {
	bin, store string
	env        []string
	tree       string
}

func (m *mlstate) name() string { return "mlstate" }

func (m *mlstate) push(src string) (measure, error) {
	var out bytes.Buffer
	me, err := runCmd(m.env, &out, m.bin, "push", "--store", m.store, "--create-bucket", "--name", "bench", src)
	if err != nil {
		return me, err
	}
	var res struct {
		Tree     string `json:"tree"`
		Uploaded int64  `json:"bytes-uploaded"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return me, fmt.Errorf("push output %q: %w", out.String(), err)
	}
	m.tree, me.uploaded = res.Tree, res.Uploaded
	return me, nil
}

func (m *mlstate) pull(dst string) (measure, error) {
	return runCmd(m.env, io.Discard, m.bin, "pull", "--store", m.store, "--tree", m.tree, dst)
}

type mcTool struct {
	bin, bucket string
	env         []string
}

func (m *mcTool) name() string { return "mc" }
func (m *mcTool) push(src string) (measure, error) {
	return runCmd(m.env, io.Discard, m.bin, "mirror", "--quiet", "--overwrite", src, "bench/"+m.bucket)
}
func (m *mcTool) pull(dst string) (measure, error) {
	return runCmd(m.env, io.Discard, m.bin, "mirror", "--quiet", "bench/"+m.bucket, dst)
}

type rcloneTool struct {
	bucket string
	env    []string
}

func (r *rcloneTool) name() string { return "rclone" }
func (r *rcloneTool) push(src string) (measure, error) {
	return runCmd(r.env, io.Discard, "rclone", "copy", "--transfers", "8", src, "bench:"+r.bucket)
}
func (r *rcloneTool) pull(dst string) (measure, error) {
	return runCmd(r.env, io.Discard, "rclone", "copy", "--transfers", "8", "bench:"+r.bucket, dst)
}

// sameTree checks that every file under a has the same bytes under b. It
// reads in small blocks: a child's peak RSS (rusage) starts from the
// bench's own when it forks, so the bench must stay small.
func sameTree(a, b string) error {
	bufA, bufB := make([]byte, 1<<20), make([]byte, 1<<20)
	return filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		same, err := sameFile(p, filepath.Join(b, rel), bufA, bufB)
		if err != nil {
			return err
		}
		if !same {
			return fmt.Errorf("%s differs", rel)
		}
		return nil
	})
}

func sameFile(x, y string, bufX, bufY []byte) (bool, error) {
	fx, err := os.Open(x)
	if err != nil {
		return false, err
	}
	defer fx.Close()
	fy, err := os.Open(y)
	if err != nil {
		return false, err
	}
	defer fy.Close()
	for {
		nx, errX := io.ReadFull(fx, bufX)
		ny, errY := io.ReadFull(fy, bufY)
		if nx != ny || !bytes.Equal(bufX[:nx], bufY[:ny]) {
			return false, nil
		}
		if errX == io.EOF || errX == io.ErrUnexpectedEOF {
			return errY == errX, nil
		}
		if errX != nil {
			return false, errX
		}
		if errY != nil {
			return false, errY
		}
	}
}
