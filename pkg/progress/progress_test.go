package progress

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteArgoFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "progress")
	cases := []struct {
		n, m int64
		want string
	}{{0, 0, "0/1"}, {5, 10, "5/10"}, {12, 10, "10/10"}, {-1, 3, "0/3"}}
	for _, c := range cases {
		if err := WriteArgoFile(p, c.n, c.m); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != c.want {
			t.Errorf("WriteArgoFile(%d, %d) wrote %q, want %q", c.n, c.m, b, c.want)
		}
	}
	if err := WriteArgoFile(filepath.Join(t.TempDir(), "missing", "p"), 1, 2); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReporterBarAndArgoFile(t *testing.T) {
	var term syncBuf
	argo := filepath.Join(t.TempDir(), "progress")
	r := Start(Options{Label: "push", Terminal: &term, ArgoFile: argo})
	r.SetTotal(2 << 20)
	r.Add(1 << 20)
	r.Add(1 << 20)
	r.Stop()
	r.Stop() // idempotent
	out := term.String()
	if !strings.Contains(out, "push [==============================] 2.0 MiB/2.0 MiB") || !strings.HasSuffix(out, "\n") {
		t.Errorf("bar = %q", out)
	}
	if b, _ := os.ReadFile(argo); string(b) != "2097152/2097152" {
		t.Errorf("argo file = %q", b)
	}
}

func TestReporterLogs(t *testing.T) {
	var buf syncBuf
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := Start(Options{Label: "pull", Logger: log, Now: clock})
	r.SetTotal(100)
	r.Add(50)
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	r.Stop()
	out := buf.String()
	for _, want := range []string{`"msg":"progress"`, `"op":"pull"`, `"bytes":50`, `"total":100`, `"bytes_per_second":5`, `"eta":"10s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log %s lacks %s", out, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
