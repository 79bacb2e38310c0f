package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/status"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// statusView is the operator's view of a running apply. On a terminal
// (live) it keeps a status block at the bottom of the screen, redrawn in
// place, and every other line written to the terminal (logs, progress)
// scrolls above it. Otherwise it writes a progress line per component
// every interval. Both show the control plane's view of the run (run), drawn
// by host/status as `flowctl status` draws it.
type statusView struct {
	out      io.Writer
	live     bool
	interval time.Duration
	width    func() int
	run      func() *flowctlv1.Run

	mu      sync.Mutex
	drawn   int // lines of the block on screen
	block   []string
	stop    chan struct{}
	stopped chan struct{}
}

var _ host.Observer = (*statusView)(nil)

func newStatusView(out io.Writer, live bool, interval time.Duration, width func() int, run func() *flowctlv1.Run) *statusView {
	return &statusView{out: out, live: live, interval: interval, width: width, run: run}
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
func (v *statusView) RunStarted(host.RunView) {
	v.mu.Lock()
	v.stop, v.stopped = make(chan struct{}), make(chan struct{})
	v.mu.Unlock()
	if v.interval <= 0 || v.run == nil {
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
	run := status.FromRun(v.run(), nil, time.Now())
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live {
		width := 0
		if v.width != nil {
			width = v.width()
		}
		v.erase()
		v.block = status.Block(run, width)
		v.draw()
		return
	}
	for _, l := range status.Progress(run) {
		fmt.Fprintln(v.out, l)
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
