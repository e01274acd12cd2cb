package preflight

import (
	"fmt"
	"io"
	"strings"
)

// WriteLines writes one plain line per check, for logs:
//
//	[ok] API server: https://10.0.0.1 answers (Kubernetes v1.33.1)
//	[broken] Blueprint: blueprint kanister/bp not found. Do: apply it ...
//
// Advice spanning several lines (Role rules) follows, indented.
func WriteLines(w io.Writer, l Checklist) error {
	for _, c := range l {
		line := fmt.Sprintf("[%s] %s: %s", c.Status, c.Name, c.Detail)
		first, rest, _ := strings.Cut(c.Advice, "\n")
		if first != "" {
			line = strings.TrimSuffix(line, ".") + ". Do: " + first
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
		if err := writeIndented(w, rest, "    "); err != nil {
			return err
		}
	}
	return nil
}

// Symbols and colours of the terminal table.
var symbols = map[Status]string{OK: "\x1b[32m✓\x1b[0m", Warning: "\x1b[33m!\x1b[0m", Broken: "\x1b[31m✗\x1b[0m"}

// WriteTable writes the checklist as an aligned table for a terminal: a
// symbol, the check's name, what was found, and the advice below a line
// that is not ok.
func WriteTable(w io.Writer, l Checklist) error {
	width := 0
	for _, c := range l {
		width = max(width, len([]rune(c.Name)))
	}
	for _, c := range l {
		if _, err := fmt.Fprintf(w, "%s %-*s  %s\n", symbols[c.Status], width, c.Name, c.Detail); err != nil {
			return err
		}
		if c.Advice != "" && c.Status != OK {
			pad := strings.Repeat(" ", width+4)
			first, rest, _ := strings.Cut(c.Advice, "\n")
			if _, err := fmt.Fprintf(w, "%s→ %s\n", pad, first); err != nil {
				return err
			}
			if err := writeIndented(w, rest, pad+"  "); err != nil {
				return err
			}
		}
	}
	counts := map[Status]int{}
	for _, c := range l {
		counts[c.Status]++
	}
	_, err := fmt.Fprintf(w, "%d ok, %d warning, %d broken\n", counts[OK], counts[Warning], counts[Broken])
	return err
}

func writeIndented(w io.Writer, text, pad string) error {
	if text == "" {
		return nil
	}
	for _, l := range strings.Split(text, "\n") {
		if _, err := fmt.Fprintln(w, pad+l); err != nil {
			return err
		}
	}
	return nil
}
