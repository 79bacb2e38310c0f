package status

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// column is one column of the components table. rank orders what gives way
// on a narrow terminal: the highest rank goes first (of equals, the one
// further right); rank 0 always stays.
type column struct {
	name  string
	rank  int
	left  bool // text, left-aligned; numbers are right-aligned
	value func(r *Run, c Component) string
}

// columns are the table's columns, in order. The live block, `status` and
// `status --watch` all show these.
var columns = []column{
	{"COMPONENT", 0, true, func(_ *Run, c Component) string { return c.ID }},
	{"STATE", 0, true, func(_ *Run, c Component) string { return c.State }},
	{"EVENTS/S", 2, false, func(r *Run, c Component) string {
		if r.State != "running" {
			return "-"
		}
		return Rate(c.EventsPerSecond)
	}},
	{"IN", 3, false, func(_ *Run, c Component) string { return countUnless(c.Received, c.Kind == "source") }},
	{"OUT", 3, false, func(_ *Run, c Component) string { return countUnless(c.Emitted, c.Kind == "sink") }},
	{"ACKED", 1, false, func(_ *Run, c Component) string { return countUnless(c.Acked, c.Kind == "processor") }},
	// As in the summary: a source's failures are its restarts.
	{"FAILED", 3, false, func(_ *Run, c Component) string { return countUnless(c.Failed, c.Kind == "source") }},
	{"RESTARTS", 7, false, func(_ *Run, c Component) string { return Count(c.Restarts) }},
	{"BACKLOG", 8, false, func(_ *Run, c Component) string { return Count(c.Backlog) }},
	{"CPU", 5, false, func(_ *Run, c Component) string { return Percent(c.CPUPercent) }},
	{"MEM", 5, false, func(_ *Run, c Component) string { return Bytes(c.MemoryBytes) }},
	{"ETA", 4, false, func(_ *Run, c Component) string { return ETA(c.ETASeconds) }},
	// Shortened before it goes.
	{"LAST ERROR", 6, true, func(_ *Run, c Component) string { return firstLine(c.LastError) }},
}

// minErrorWidth is the narrowest LAST ERROR worth showing; narrower, the
// column goes.
const minErrorWidth = 16

// Headline is the line above the table: what runs, for how long, how
// fast, and when it should be done.
func Headline(r *Run) string {
	what := "standalone control plane"
	if r.Pipeline != "" {
		what = strconv.Quote(r.Pipeline)
	}
	parts := []string{"pipeline " + what, "run " + r.ID}
	if r.State == "running" {
		parts = append(parts, "running for "+Duration(r.Seconds))
		if r.Pipeline != "" {
			parts = append(parts, Rate(r.EventsPerSecond)+" events/s")
		}
		if r.ETASeconds != nil {
			parts = append(parts, "ETA "+ETA(r.ETASeconds))
		}
	} else {
		parts = append(parts, r.State)
		if r.Seconds > 0 {
			parts = append(parts, "after "+Duration(r.Seconds))
		}
	}
	return strings.Join(parts, " · ")
}

// Table lays r's components out for a terminal width columns wide (0: no
// limit): a header and one row per component, no line longer than width.
// What does not fit gives way, least important first: the backlog and
// restarts go, then LAST ERROR is shortened (or goes when too short to
// read), then CPU and memory, ETA, failures, inputs and outputs. Rows are never cut mid-column
// unless even COMPONENT and STATE do not fit.
func Table(r *Run, width int) []string {
	cells := make([][]string, len(r.Components))
	for i, c := range r.Components {
		for _, col := range columns {
			cells[i] = append(cells[i], col.value(r, c))
		}
	}
	widths := make([]int, len(columns))
	for j, col := range columns {
		widths[j] = utf8.RuneCountInString(col.name)
		for i := range cells {
			widths[j] = max(widths[j], utf8.RuneCountInString(cells[i][j]))
		}
	}
	shown := make([]bool, len(columns))
	for j := range columns {
		// LAST ERROR only when some component has one.
		shown[j] = columns[j].name != "LAST ERROR" || slices.ContainsFunc(r.Components, func(c Component) bool { return c.LastError != "" })
	}
	errCol := len(columns) - 1
	total := func() int {
		n := 0
		for j := range columns {
			if shown[j] {
				n += widths[j] + 2
			}
		}
		return n - 2
	}
	for width > 0 && total() > width {
		drop, rank := -1, 0
		for j, col := range columns {
			if shown[j] && col.rank > 0 && col.rank >= rank { // on a tie, the later column goes
				drop, rank = j, col.rank
			}
		}
		if drop < 0 {
			break
		}
		if drop == errCol {
			if w := widths[drop] - (total() - width); w >= minErrorWidth {
				widths[drop] = w
				break
			}
		}
		shown[drop] = false
	}
	row := func(vals []string) string {
		var b strings.Builder
		for j, v := range vals {
			if !shown[j] {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("  ")
			}
			v = shorten(v, widths[j])
			pad := strings.Repeat(" ", widths[j]-utf8.RuneCountInString(v))
			if columns[j].left {
				b.WriteString(v + pad)
			} else {
				b.WriteString(pad + v)
			}
		}
		return cut(strings.TrimRight(b.String(), " "), width)
	}
	names := make([]string, len(columns))
	for j, col := range columns {
		names[j] = col.name
	}
	lines := []string{row(names)}
	for i := range cells {
		lines = append(lines, row(cells[i]))
	}
	return lines
}

// Block is apply's live block: a rule with the headline, then the table,
// width columns wide at most.
func Block(r *Run, width int) []string {
	head := "── " + Headline(r) + " "
	rule := 100
	if width > 0 {
		rule = width - 1 // the last column stays free: no line wraps
	}
	head += strings.Repeat("─", max(0, rule-utf8.RuneCountInString(head)))
	return append([]string{cut(head, rule)}, Table(r, rule)...)
}

// Progress is one line per component naming each value, for a log that is
// not a terminal: they are read one at a time, and by scripts. The values
// are the table's, counts without thousands separators.
func Progress(r *Run) []string {
	var lines []string
	for _, c := range r.Components {
		var b strings.Builder
		b.WriteString("progress: " + c.ID + " " + c.State)
		for _, col := range columns[2:] {
			if v := col.value(r, c); v != "-" && v != "" {
				if col.name == "LAST ERROR" {
					v = strconv.Quote(v) // logfmt: a value with spaces is quoted
				} else {
					v = strings.ReplaceAll(v, ",", "")
				}
				b.WriteString(" " + strings.ReplaceAll(strings.ToLower(col.name), " ", "_") + "=" + v)
			}
		}
		lines = append(lines, b.String())
	}
	return lines
}

// Detail describes one component for `flowctl status COMPONENT`: its
// counters, rate and resources (the table's numbers) and its registration.
func Detail(r *Run, c Component, now time.Time) []string {
	head := c.ID + " (" + c.Kind
	if c.Plugin != "" {
		head += ", " + c.Plugin
	}
	if c.Driver != "" {
		head += ", " + c.Driver
		if c.Pid > 0 {
			head += " pid " + strconv.FormatInt(c.Pid, 10)
		}
	}
	lines := []string{head + ")"}
	add := func(name, value string) {
		if value != "" && value != "-" {
			lines = append(lines, fmt.Sprintf("  %-15s %s", name+":", value))
		}
	}
	state := c.State
	if s := c.Registration; s != nil && s.StateSince != nil {
		state += " since " + s.StateSince.Format(time.RFC3339)
	}
	add("state", state)
	if s := c.Registration; s != nil {
		add("why", s.Message)
	}
	events := func(n string) string {
		if n == "-" {
			return n
		}
		return n + " events"
	}
	for _, col := range columns[2:] {
		v := col.value(r, c)
		switch col.name {
		case "EVENTS/S":
			if v != "-" {
				v += " events/s"
			}
			add("rate", v)
		case "IN":
			add("received", events(v))
		case "OUT":
			add("emitted", events(v))
		case "ACKED":
			add("acked", events(v))
		case "FAILED":
			if v != "-" {
				v = events(v) + fmt.Sprintf(" (%s retried, %s dead-lettered)", Count(c.Retried), Count(c.DeadLettered))
			}
			add("failed", v)
		case "BACKLOG":
			add("backlog", v+" batches")
		case "LAST ERROR":
			add("last error", v)
		case "MEM":
			add("memory", v)
		case "ETA":
			if c.Remaining != nil {
				add("remaining", events(Count(*c.Remaining)))
			}
			add("eta", v)
		default:
			add(strings.ToLower(col.name), v)
		}
	}
	if s := c.Registration; s != nil {
		hb := "never"
		if s.LastHeartbeatAt != nil {
			hb = now.Sub(*s.LastHeartbeatAt).Round(100*time.Millisecond).String() + " ago"
		}
		add("last heartbeat", hb)
		add("endpoint", s.Endpoint)
		if !s.Managed {
			// A managed component's heartbeat metrics are a copy of the
			// counters above, as old as its last health check: left out.
			add("metrics", Pairs(s.Metrics, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }))
		}
		add("metadata", Pairs(s.Metadata, func(v string) string { return v }))
	}
	add("run", r.ID+" ("+r.State+")")
	return lines
}

// Pairs renders m as "k=v k=v", sorted by key.
func Pairs[V any](m map[string]V, format func(V) string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + format(m[k])
	}
	return strings.Join(parts, " ")
}

// Count writes n with thousands separators: 61,067.
func Count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

func countUnless(n uint64, none bool) string {
	if none {
		return "-"
	}
	return Count(n)
}

// Rate writes events per second: whole numbers, with separators.
func Rate(perSecond float64) string {
	return Count(uint64(math.Round(max(perSecond, 0))))
}

// Percent writes a CPU share (100% is one core); "-" when unknown.
func Percent(p *float64) string {
	switch {
	case p == nil:
		return "-"
	case *p < 10:
		return strconv.FormatFloat(*p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(*p, 'f', 0, 64) + "%"
}

// Bytes writes a size in binary units: 812KiB, 45.2MiB; "-" when unknown.
func Bytes(n *uint64) string {
	if n == nil {
		return "-"
	}
	v, unit := float64(*n), 0
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	for v >= 1024 && unit < len(units)-1 {
		v /= 1024
		unit++
	}
	if unit == 0 || v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64) + units[unit]
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + units[unit]
}

// ETA writes a time left: 42s, 3m05s, 1h02m; "-" when unknown.
func ETA(seconds *float64) string {
	if seconds == nil {
		return "-"
	}
	return Duration(*seconds)
}

// Duration writes seconds as 42s, 3m05s or 1h02m.
func Duration(seconds float64) string {
	s := int64(math.Round(max(seconds, 0)))
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// shorten cuts s to n runes, marking the cut with "…".
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune(s)[:max(n, 0)])
	}
	return string([]rune(s)[:n-1]) + "…"
}

// cut keeps s within width runes (0: no limit): the last resort when even
// the columns that always stay do not fit.
func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}
