package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/health"
)

// statusView is the operator's view of a running apply. On a terminal
// (live) it keeps a status block at the bottom of the screen, redrawn in
// place, and every other line written to the terminal (logs, progress)
// scrolls above it. Otherwise it writes a progress line per component
// every interval.
type statusView struct {
	out      io.Writer
	live     bool
	interval time.Duration
	width    func() int
	states   func() map[string]health.State

	mu      sync.Mutex
	view    host.RunView
	start   time.Time
	drawn   int // lines of the block on screen
	block   []string
	prev    map[string]uint64 // events counted at the previous tick, for rates
	prevAt  time.Time
	stop    chan struct{}
	stopped chan struct{}
}

var _ host.Observer = (*statusView)(nil)

func newStatusView(out io.Writer, live bool, interval time.Duration, width func() int, states func() map[string]health.State) *statusView {
	return &statusView{out: out, live: live, interval: interval, width: width, states: states, prev: map[string]uint64{}}
}

// Writer is where everything else meant for the terminal goes, so that it
// scrolls above the block.
func (v *statusView) Writer() io.Writer { return viewWriter{v} }

type viewWriter struct{ v *statusView }

func (w viewWriter) Write(p []byte) (int, error) {
	v := w.v
	v.mu.Lock()
	defer v.mu.Unlock()
	v.erase()
	n, err := v.out.Write(p)
	v.draw()
	return n, err
}

// RunStarted implements host.Observer.
func (v *statusView) RunStarted(rv host.RunView) {
	v.mu.Lock()
	v.view, v.start, v.prevAt = rv, time.Now(), time.Now()
	v.stop, v.stopped = make(chan struct{}), make(chan struct{})
	v.mu.Unlock()
	if v.interval <= 0 {
		close(v.stopped)
		return
	}
	go v.loop()
}

func (v *statusView) loop() {
	defer close(v.stopped)
	t := time.NewTicker(v.interval)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			v.tick()
		}
	}
}

func (v *statusView) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	lines := v.render(time.Now())
	if v.live {
		v.erase()
		v.block = lines
		v.draw()
		return
	}
	// Plain lines name each value: they are read one at a time.
	names := strings.Fields(strings.ToLower(lines[1]))
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		var b strings.Builder
		b.WriteString("progress: " + f[0] + " " + f[1])
		for i := 2; i < len(f) && i < len(names); i++ {
			if f[i] != "-" {
				b.WriteString(" " + names[i] + "=" + f[i])
			}
		}
		fmt.Fprintln(v.out, b.String())
	}
}

// ComponentChanged implements host.Observer; states come from the control
// plane at the next tick.
func (v *statusView) ComponentChanged(host.ComponentEvent) {}

// BatchDone implements host.Observer.
func (v *statusView) BatchDone(flowhcl.Address, flowhcl.Kind, time.Duration) {}

// RunEnded implements host.Observer: the block goes; the summary follows.
func (v *statusView) RunEnded(*host.Summary) {
	v.mu.Lock()
	stop := v.stop
	v.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-v.stopped
	v.mu.Lock()
	defer v.mu.Unlock()
	v.erase()
	v.block = nil
}

// erase removes the block; v.mu is held.
func (v *statusView) erase() {
	if v.drawn == 0 {
		return
	}
	// Up to the block's first line, then clear to the end of the screen.
	fmt.Fprintf(v.out, "\x1b[%dA\r\x1b[J", v.drawn)
	v.drawn = 0
}

// draw writes the block below the cursor; v.mu is held.
func (v *statusView) draw() {
	if !v.live || len(v.block) == 0 {
		return
	}
	var b bytes.Buffer
	for _, l := range v.block {
		b.WriteString(l)
		b.WriteString("\x1b[K\n")
	}
	_, _ = v.out.Write(b.Bytes())
	v.drawn = len(v.block)
}

// render lays the block out: a header and one row per component, cut to
// the terminal's width so that no row wraps (a wrapped row would break
// erasing).
func (v *statusView) render(now time.Time) []string {
	stats := v.view.Stats()
	states := map[string]health.State{}
	if v.states != nil {
		states = v.states()
	}
	secs := now.Sub(v.prevAt).Seconds()
	rows := [][]string{{"COMPONENT", "STATE", "EVENTS/S", "IN", "OUT", "ACKED", "FAILED", "RESTARTS", "BACKLOG"}}
	for _, s := range stats {
		addr := s.Address.String()
		moved := s.EventsOut
		if s.Address.Kind == flowhcl.KindSink {
			moved = s.EventsAcked
		}
		rate := 0.0
		if secs > 0 && moved >= v.prev[addr] {
			rate = float64(moved-v.prev[addr]) / secs
		}
		v.prev[addr] = moved
		state := "-"
		if st, ok := states[addr]; ok {
			state = st.String()
		}
		in, out, acked := strconv.FormatUint(s.EventsIn, 10), strconv.FormatUint(s.EventsOut, 10), strconv.FormatUint(s.EventsAcked, 10)
		switch s.Address.Kind {
		case flowhcl.KindSource:
			in = "-"
		case flowhcl.KindProcessor:
			acked = "-"
		case flowhcl.KindSink:
			out = "-"
		}
		failed := strconv.FormatUint(s.EventsFailed, 10)
		if s.Address.Kind == flowhcl.KindSource {
			failed = "-" // as in the summary: a source's failures are restarts
		}
		rows = append(rows, []string{addr, state, strconv.FormatFloat(rate, 'f', 0, 64), in, out, acked,
			failed, strconv.FormatUint(s.Restarts, 10), strconv.FormatUint(s.Backlog, 10)})
	}
	v.prevAt = now
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	width := 0
	if v.width != nil {
		width = v.width()
	}
	header := fmt.Sprintf("── pipeline %q · running %s ", v.view.Pipeline(), now.Sub(v.start).Round(time.Second))
	lines := []string{header + strings.Repeat("─", max(0, min(width, 100)-utf8.RuneCountInString(header)))}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i >= 2 { // numbers right-aligned
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)) + c)
			} else {
				b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)))
			}
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
	}
	if width > 0 {
		for i, l := range lines {
			if utf8.RuneCountInString(l) > width-1 {
				lines[i] = string([]rune(l)[:width-1])
			}
		}
	}
	return lines
}

// componentColors paints each component's name in the log lines relayed
// from its plugin (hclog names them flowctl.<address>), so that a
// terminal's interleaved logs are easy to tell apart.
type componentColors struct {
	out   io.Writer
	names [][2]string // plain, painted
}

var palette = []string{"36", "33", "35", "32", "34", "91", "96", "93"}

func newComponentColors(out io.Writer, addrs []string) *componentColors {
	cc := &componentColors{out: out}
	for i, a := range addrs {
		cc.names = append(cc.names, [2]string{"flowctl." + a, "\x1b[" + palette[i%len(palette)] + "m" + "flowctl." + a + "\x1b[0m"})
	}
	return cc
}

func (cc *componentColors) Write(p []byte) (int, error) {
	if _, err := io.WriteString(cc.out, cc.paint(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (cc *componentColors) paint(line string) string {
	for _, n := range cc.names {
		// The logger name is followed by ":" or by "." and a sub-logger's.
		for _, end := range []string{":", "."} {
			if i := strings.Index(line, n[0]+end); i >= 0 {
				return line[:i] + n[1] + line[i+len(n[0]):]
			}
		}
	}
	return line
}
