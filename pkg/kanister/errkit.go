package kanister

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Readable turns a Kanister error message into text for people. When a
// phase fails, Kanister's controller prefixes the error with the JSON of
// its errkit details (pkg/controller/controller.go runAction: every errkit
// error has details, often none), which gives messages like
// `null: Failed to ...` or `{"pod":"copy-x","namespace":"ml"}: Failed to
// ...`; an errkit.ErrorList reads `["first","second"]`. Readable drops an
// empty detail prefix, moves details to the end as "(key=value, ...)", and
// joins error lists with "; ". Anything else is returned as it is.
func Readable(msg string) string {
	var details []string
	var b strings.Builder
	// Details sit at the start, or after a ": " where the controller wrapped
	// the error once more (Event messages).
	for s := msg; ; {
		if rest, d, ok := cutDetails(s); ok {
			s, details = rest, append(details, d...)
			continue
		}
		i := strings.Index(s, ": ")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i+2])
		s = s[i+2:]
	}
	out := b.String()
	if list, ok := errorList(out); ok {
		out = list
	}
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out
}

// cutDetails removes one leading `DETAILS: ` where DETAILS is JSON null or
// a JSON object, returning the object's fields as key=value.
func cutDetails(s string) (rest string, details []string, ok bool) {
	if r, found := strings.CutPrefix(s, "null: "); found {
		return r, nil, true
	}
	if !strings.HasPrefix(s, "{") {
		return s, nil, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return s, nil, false
	}
	r, found := strings.CutPrefix(s[dec.InputOffset():], ": ")
	if !found {
		return s, nil, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		details = append(details, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return r, details, true
}

// errorList reads an errkit.ErrorList's text, a JSON array of strings.
func errorList(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return "", false
	}
	var list []string
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&list); err != nil || dec.More() || len(list) == 0 {
		return "", false
	}
	for i, e := range list {
		list[i] = Readable(e)
	}
	return strings.Join(list, "; "), true
}
