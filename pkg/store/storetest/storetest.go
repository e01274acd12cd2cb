// Package storetest is the conformance suite every store.Store backend must
// pass: the contract written on store.Store, checked the same way against
// the file store (unit tests) and a real MinIO server (integration tests).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mlstate/mlstate/pkg/store"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st store.Store)
	}{
		{"PutGet", testPutGet},
		{"PutReplaces", testPutReplaces},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentRace", testPutIfAbsentRace},
		{"Missing", testMissing},
		{"List", testList},
		{"ListStops", testListStops},
		{"Delete", testDelete},
		{"DeleteMany", testDeleteMany},
		{"ConcurrentPuts", testConcurrentPuts},
		{"String", testString},
		{"GetRange", testGetRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func put(t *testing.T, st store.Store, key, val string) {
	t.Helper()
	if err := st.Put(context.Background(), key, strings.NewReader(val), int64(len(val))); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func get(t *testing.T, st store.Store, key string) string {
	t.Helper()
	rc, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return string(b)
}

func testPutGet(t *testing.T, st store.Store) {
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	for key, val := range map[string]string{"a": "x", "chunks/ab/abcd": big, "empty": ""} {
		put(t, st, key, val)
		if got := get(t, st, key); got != val {
			t.Errorf("Get %s: %d bytes, want %d", key, len(got), len(val))
		}
		info, err := st.Stat(context.Background(), key)
		if err != nil || info.Size != int64(len(val)) || info.Key != key || info.ModTime.IsZero() {
			t.Errorf("Stat %s = %+v, %v; want size %d", key, info, err, len(val))
		}
	}
}

func testPutReplaces(t *testing.T, st store.Store) {
	put(t, st, "k", "one")
	put(t, st, "k", "two!")
	if got := get(t, st, "k"); got != "two!" {
		t.Errorf("after replace Get = %q", got)
	}
}

func testPutIfAbsent(t *testing.T, st store.Store) {
	ctx := context.Background()
	if err := st.PutIfAbsent(ctx, "rec/1", strings.NewReader("first"), 5); err != nil {
		t.Fatalf("first PutIfAbsent: %v", err)
	}
	err := st.PutIfAbsent(ctx, "rec/1", strings.NewReader("second"), 6)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second PutIfAbsent = %v, want ErrExists", err)
	}
	if got := get(t, st, "rec/1"); got != "first" {
		t.Errorf("object replaced: %q", got)
	}
}

func testPutIfAbsentRace(t *testing.T, st store.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := fmt.Sprintf("writer-%d", i)
			errs[i] = st.PutIfAbsent(context.Background(), "race", strings.NewReader(v), int64(len(v)))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("PutIfAbsent: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d writers won, want exactly 1", wins)
	}
}

func testMissing(t *testing.T, st store.Store) {
	ctx := context.Background()
	if _, err := st.Get(ctx, "nope/x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get missing = %v, want ErrNotFound", err)
	}
	if _, err := st.Stat(ctx, "nope/x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat missing = %v, want ErrNotFound", err)
	}
}

func list(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := st.List(context.Background(), prefix, func(i store.Info) error {
		keys = append(keys, i.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return keys
}

func testList(t *testing.T, st store.Store) {
	for _, k := range []string{"a/b/c", "a/b-c", "a/b0", "a-z", "b", "a/b/d/e"} {
		put(t, st, k, k)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a-z", "a/b-c", "a/b/c", "a/b/d/e", "a/b0", "b"}},
		{"a/", []string{"a/b-c", "a/b/c", "a/b/d/e", "a/b0"}},
		{"a/b/", []string{"a/b/c", "a/b/d/e"}},
		{"a/b", []string{"a/b-c", "a/b/c", "a/b/d/e", "a/b0"}},
		{"zz/", nil},
	}
	for _, c := range cases {
		if got := list(t, st, c.prefix); strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("List(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
}

func testListStops(t *testing.T, st store.Store) {
	for i := range 5 {
		put(t, st, fmt.Sprintf("s/%d", i), "x")
	}
	stop := errors.New("stop")
	n := 0
	err := st.List(context.Background(), "s/", func(store.Info) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("List returned %v after %d calls, want the callback's error after 2", err, n)
	}
}

func testDelete(t *testing.T, st store.Store) {
	ctx := context.Background()
	put(t, st, "d/1", "x")
	if err := st.Delete(ctx, "d/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := st.Stat(ctx, "d/1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, "d/never"); err != nil {
		t.Errorf("Delete missing = %v, want nil", err)
	}
}

func testConcurrentPuts(t *testing.T, st store.Store) {
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := bytes.Repeat([]byte{byte(i)}, 4096)
			if err := st.Put(context.Background(), "same", bytes.NewReader(v), int64(len(v))); err != nil {
				t.Errorf("Put: %v", err)
			}
		}()
	}
	wg.Wait()
	got := get(t, st, "same")
	if len(got) != 4096 || strings.Count(got, got[:1]) != 4096 {
		t.Errorf("concurrent Puts left a mixed object (%d bytes)", len(got))
	}
}

func testString(t *testing.T, st store.Store) {
	if st.String() == "" {
		t.Error("String is empty")
	}
}

// testDeleteMany checks store.DeleteMany, batched or not: every key goes,
// missing ones are no error, others stay.
func testDeleteMany(t *testing.T, st store.Store) {
	ctx := context.Background()
	var keys []string
	for i := range 1203 { // more than one multi-object DELETE
		k := fmt.Sprintf("m/%04d", i)
		if i%100 == 0 {
			put(t, st, k, "x")
		}
		keys = append(keys, k)
	}
	put(t, st, "m/keep", "x")
	if err := store.DeleteMany(ctx, st, keys); err != nil {
		t.Fatalf("DeleteMany: %v", err)
	}
	var left []string
	if err := st.List(ctx, "m/", func(info store.Info) error { left = append(left, info.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != "m/keep" {
		t.Errorf("after DeleteMany, left %v, want [m/keep]", left)
	}
}

func testGetRange(t *testing.T, st store.Store) {
	if _, ok := st.(store.RangeGetter); !ok {
		t.Errorf("%T reads ranges by reading from the start; implement store.RangeGetter", st)
	}
	val := strings.Repeat("0123456789", 100)
	put(t, st, "packs/r", val)
	// A range from or past the end (a pack shorter than its index says)
	// reads as an empty body in every store, so a reader sees it cut short.
	for _, c := range []struct{ off, n int64 }{{0, 10}, {5, 20}, {990, 10}, {995, 10}, {1000, 10}, {1500, 10}} {
		rc, err := store.GetRange(context.Background(), st, "packs/r", c.off, c.n)
		if err != nil {
			t.Errorf("GetRange(%d, %d): %v", c.off, c.n, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		want := val[min(int(c.off), len(val)):min(int(c.off+c.n), len(val))]
		if err != nil || string(b) != want {
			t.Errorf("GetRange(%d, %d) = %q, %v; want %q", c.off, c.n, b, err, want)
		}
	}
	if _, err := store.GetRange(context.Background(), st, "packs/missing", 0, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRange of a missing key = %v, want ErrNotFound", err)
	}
}
