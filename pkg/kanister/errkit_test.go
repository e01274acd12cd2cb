package kanister

import "testing"

func TestReadable(t *testing.T) {
	cases := []struct{ in, want string }{
		{"restic: repository locked", "restic: repository locked"},
		{"null: Failed to run pod: exit 1", "Failed to run pod: exit 1"},
		{`{"pod":"copy-x","namespace":"ml"}: Failed to run pod: exit 1`, "Failed to run pod: exit 1 (namespace=ml, pod=copy-x)"},
		{`{"attempt":3}: null: timed out`, "timed out (attempt=3)"},
		{`["first failed","null: second failed"]`, "first failed; second failed"},
		{`{not json}: x`, `{not json}: x`},
		{`{"a":1} no separator`, `{"a":1} no separator`},
		{"", ""},
		{`Failed to execute phase: copy: {"pod":"p"}: null: exit 1`, "Failed to execute phase: copy: exit 1 (pod=p)"},
	}
	for _, c := range cases {
		if got := Readable(c.in); got != c.want {
			t.Errorf("Readable(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
