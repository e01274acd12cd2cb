package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

type row struct {
	phase string
	m     []measure // same order as tools; mlstate first
}

// printTable prints seconds per tool, the best peer's time over mlstate's
// (above 1 mlstate is faster), and peak RSS per tool.
func printTable(w io.Writer, tools []tool, rows []row) {
	var names []string
	for _, t := range tools {
		names = append(names, t.name())
	}
	fmt.Fprintf(w, "\n| phase | %s s | best peer / mlstate | peak RSS %s (MiB) |\n", strings.Join(names, " s | "), strings.Join(names, " / "))
	fmt.Fprintf(w, "|---|%s---:|---|\n", strings.Repeat("---:|", len(names)))
	for _, r := range rows {
		var secs, rss []string
		best := 0.0
		for i, m := range r.m {
			secs = append(secs, fmt.Sprintf("%.2f", m.secs))
			rss = append(rss, fmt.Sprint(m.rssKiB>>10))
			if i > 0 && (best == 0 || m.secs < best) {
				best = m.secs
			}
		}
		ratio := "-"
		if best > 0 {
			ratio = fmt.Sprintf("%.2f×", best/r.m[0].secs)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.phase, strings.Join(secs, " | "), ratio, strings.Join(rss, " / "))
	}
}

// conditions describes the machine the figures were taken on.
func conditions() string {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	l := "?"
	if len(f) > 0 {
		l = f[0]
	}
	return fmt.Sprintf("%d cores, load average %s at start, %s, one local MinIO (single drive)", runtime.NumCPU(), l, runtime.Version())
}
