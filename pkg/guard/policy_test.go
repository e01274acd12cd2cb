package guard

import (
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	cases := []struct {
		in      string
		restore []int // statuses that must restore
		keep    []int // statuses that must not
		err     string
	}{
		{in: "", restore: []int{1, 2, 3, 127, 130, 137, 143, 255}, keep: []int{0}},
		{in: "nonzero", restore: []int{1, 143, 255}, keep: []int{0}},
		{in: "any", restore: []int{1, 143}, keep: []int{0}},
		{in: "never", keep: []int{0, 1, 143, 255}},
		{in: "none", keep: []int{1}},
		{in: "1-255,!3", restore: []int{1, 2, 4, 143}, keep: []int{0, 3}},
		{in: "!3", restore: []int{1, 2, 4, 255}, keep: []int{0, 3}},
		{in: "!3, !SIGTERM", restore: []int{1, 130}, keep: []int{3, 143}},
		{in: "1,2,SIGTERM", restore: []int{1, 2, 143}, keep: []int{3, 130, 137}},
		{in: "sigterm,INT,kill", restore: []int{143, 130, 137}, keep: []int{1}},
		{in: "TERM", restore: []int{143}, keep: []int{1}},
		{in: "10-20", restore: []int{10, 15, 20}, keep: []int{9, 21}},
		{in: "nonzero,!128-255,SIGTERM", restore: []int{1, 127, 143}, keep: []int{130, 137}},
		{in: "never,5", restore: []int{5}, keep: []int{1}},
		{in: "0", err: "status 0 is success"},
		{in: "1-0", err: "status 0 is success"},
		{in: "256", err: "from 1 to 255"},
		{in: "5-3", err: "runs backwards"},
		{in: "1,,2", err: "empty term"},
		{in: "sometimes", err: "is not an exit status"},
		{in: "SIGNOPE", err: "is not an exit status"},
		{in: "-3", err: "is not an exit status"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			p, err := ParsePolicy(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParsePolicy(%q) error = %v, want one containing %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.restore {
				if !p.Restores(c) {
					t.Errorf("%q: status %d does not restore, want it to", tc.in, c)
				}
			}
			for _, c := range tc.keep {
				if p.Restores(c) {
					t.Errorf("%q: status %d restores, want it not to", tc.in, c)
				}
			}
		})
	}
}

func TestPolicyOutOfRange(t *testing.T) {
	p, _ := ParsePolicy("")
	for _, c := range []int{-1, 0, 256, 1000} {
		if p.Restores(c) {
			t.Errorf("status %d restores", c)
		}
	}
	if p.String() != DefaultPolicy {
		t.Errorf("String() = %q, want %q", p.String(), DefaultPolicy)
	}
}
