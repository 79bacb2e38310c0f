package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/status"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the components registered with a control plane",
		Description: "Asks the control plane at --endpoint (or FLOWCTL_ENDPOINT; default: the running one found through its run file, see --state-dir) " +
			"for the components of its current run: the plugins a running `flowctl apply` started, and components " +
			"that registered themselves. --all adds earlier runs' records, which are never healthy. The token (read role is enough) " +
			"comes from --token or FLOWCTL_TOKEN, else from the run file, readable only by the user who started the run.",
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "all", Usage: "include the components of earlier runs"}),
		Action: list,
	}
}

func list(c *cli.Context) error {
	cl, err := dialControlPlane(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	resp, err := cl.ListServices(ctx, &flowctlv1.ListServicesRequest{AllRuns: c.Bool("all")})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	if c.String("output") == "json" {
		doc := listDoc{RunID: resp.GetRunId(), Services: []status.Service{}}
		for _, s := range resp.GetServices() {
			doc.Services = append(doc.Services, status.FromService(s))
		}
		return writeJSON(c.App.Writer, doc)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tPLUGIN\tSTATE\tLAST HEARTBEAT\tREGISTERED BY\tRUN\tMESSAGE")
	now := time.Now()
	for _, s := range resp.GetServices() {
		by := "itself"
		if s.GetManaged() {
			by = "flowctl"
		}
		run := s.GetRunId()
		if run == resp.GetRunId() {
			run += " (current)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.GetId(), status.KindText(s.GetKind()), pluginText(s),
			health.FromProto(s.GetState()), ago(now, s.GetLastHeartbeatUnixNano()), by, run, s.GetMessage())
	}
	if len(resp.GetServices()) == 0 {
		fmt.Fprintf(tw, "(no components registered in run %s)\n", resp.GetRunId())
	}
	return tw.Flush()
}

// statusDoc is `status -o json`: the run with its components' counters,
// and every registration of the run.
type statusDoc struct {
	Run      *status.Run      `json:"run"`
	Services []status.Service `json:"services"`
}

// listDoc is `list -o json`.
type listDoc struct {
	RunID    string           `json:"run_id"`
	Services []status.Service `json:"services"`
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run and its components' health and counters",
		ArgsUsage: "[COMPONENT]",
		Description: "Shows the current run of the control plane at --endpoint (or FLOWCTL_ENDPOINT; default: the running one found through its run file, see --state-dir): " +
			"per component its state, events per second, the events it received, emitted, acked and failed, its restarts, " +
			"backlog, CPU and memory, ETA and last error (the same counters as apply's summary and its live block), as wide " +
			"as the terminal. With COMPONENT, that component's numbers and its registration. --run shows an " +
			"earlier run. --watch keeps showing changes until interrupted (with -o json, one JSON object per line).",
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "keep updating until interrupted"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often --watch refreshes the counters"},
			&cli.StringFlag{Name: "run", Usage: "show this earlier run instead of the current one"}),
		Action: statusAction,
	}
}

func statusAction(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("status takes at most one component id, e.g. flowctl status source.ticks", exitUsage)
	}
	cl, err := dialControlPlane(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	show := func(ctx context.Context) error { return showStatus(ctx, c, cl) }
	if !c.Bool("watch") {
		return show(ctx)
	}
	return watchStatus(ctx, c, cl, show)
}

func showStatus(ctx context.Context, c *cli.Context, cl *controlplane.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	run, err := cl.GetRun(ctx, &flowctlv1.GetRunRequest{Id: c.String("run")})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	svcs, err := cl.ListServices(ctx, &flowctlv1.ListServicesRequest{AllRuns: c.String("run") != ""})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	now := time.Now()
	view := status.FromRun(run, svcs.GetServices(), now)
	if id := c.Args().First(); id != "" {
		return showComponent(ctx, c, cl, view, id, now)
	}
	if c.String("output") == "json" {
		doc := statusDoc{Run: view, Services: []status.Service{}}
		for _, s := range svcs.GetServices() {
			if s.GetRunId() == view.ID {
				doc.Services = append(doc.Services, status.FromService(s))
			}
		}
		return writeJSON(c.App.Writer, doc)
	}
	writeRun(c.App.Writer, view, terminalWidth(c.App.Writer), now)
	return nil
}

// showComponent shows one component: its counters from the run (the
// numbers the table shows) with its registration, or a self-registered
// component's registration.
func showComponent(ctx context.Context, c *cli.Context, cl *controlplane.Client, view *status.Run, id string, now time.Time) error {
	svc, err := cl.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: id, RunId: view.ID})
	comp, counted := view.Component(id)
	if err != nil && (!counted || grpcstatus.Code(err) != codes.NotFound) {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	if !counted {
		reg := status.FromService(svc)
		if c.String("output") == "json" {
			return writeJSON(c.App.Writer, reg)
		}
		writeService(c.App.Writer, &reg, now)
		return nil
	}
	if svc != nil {
		reg := status.FromService(svc)
		comp.Registration = &reg
	}
	if c.String("output") == "json" {
		return writeJSON(c.App.Writer, comp)
	}
	for _, l := range status.Detail(view, comp, now) {
		fmt.Fprintln(c.App.Writer, l)
	}
	return nil
}

// terminalWidth is w's width when it is a terminal, else 0 (no limit).
func terminalWidth(w any) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// watchStatus shows the status again whenever a service changes, and at
// least every --interval (the counters move without events).
func watchStatus(ctx context.Context, c *cli.Context, cl *controlplane.Client, show func(context.Context) error) error {
	stream, err := cl.WatchServices(ctx, &flowctlv1.WatchServicesRequest{})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	changes := make(chan error, 1)
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				changes <- err
				return
			}
			select {
			case changes <- nil:
			default: // a refresh is already due
			}
		}
	}()
	tick := time.NewTicker(c.Duration("interval"))
	defer tick.Stop()
	f, isFile := c.App.Writer.(*os.File)
	clear := c.String("output") == "table" && isFile && term.IsTerminal(int(f.Fd()))
	for n := 0; ; n++ {
		switch {
		case clear:
			fmt.Fprint(c.App.Writer, "\x1b[H\x1b[2J") // the table is redrawn from the top
		case n > 0 && c.String("output") == "table":
			fmt.Fprintln(c.App.Writer)
		}
		if err := show(ctx); err != nil {
			if streamEnded(changes, time.Second) {
				return cli.Exit("The control plane stopped (its run ended).", 0)
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case err := <-changes:
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, io.EOF) {
					return cli.Exit("The control plane stopped (its run ended).", 0)
				}
				return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
			}
		}
	}
}

// streamEnded reports whether the watch stream ended cleanly (the control
// plane shut down), waiting at most wait for it to say so.
func streamEnded(changes <-chan error, wait time.Duration) bool {
	timeout := time.After(wait)
	for {
		select {
		case err := <-changes:
			if err != nil {
				return errors.Is(err, io.EOF)
			}
		case <-timeout:
			return false
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeRun prints the run as `status` shows it: the headline, the
// components table (as wide as the terminal allows) and the components
// that registered themselves.
func writeRun(w io.Writer, run *status.Run, width int, now time.Time) {
	fmt.Fprintln(w, status.Headline(run))
	if run.Error != "" {
		fmt.Fprintf(w, "Error: %s\n", firstLineOf(run.Error))
	}
	fmt.Fprintln(w)
	for _, l := range status.Table(run, width) {
		fmt.Fprintln(w, l)
	}
	if len(run.Services) > 0 {
		fmt.Fprintln(w, "\nSelf-registered components:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tPLUGIN\tSTATE\tLAST HEARTBEAT\tMETRICS")
		for _, s := range run.Services {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, servicePlugin(s.Plugin, s.Version),
				s.State, agoText(now, s.LastHeartbeatAt), metricsText(s.Metrics))
		}
		_ = tw.Flush()
	}
}

// writeService prints a registration of a component the host does not
// run (it has no counters).
func writeService(w io.Writer, s *status.Service, now time.Time) {
	fmt.Fprintf(w, "%s (%s, %s)\n", s.ID, s.Kind, servicePlugin(s.Plugin, s.Version))
	since := ""
	if s.StateSince != nil {
		since = " since " + s.StateSince.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "  state:          %s%s\n", s.State, since)
	if s.Message != "" {
		fmt.Fprintf(w, "  why:            %s\n", s.Message)
	}
	fmt.Fprintf(w, "  last heartbeat: %s\n", agoText(now, s.LastHeartbeatAt))
	fmt.Fprintf(w, "  run:            %s\n", s.RunID)
	if s.Endpoint != "" {
		fmt.Fprintf(w, "  endpoint:       %s\n", s.Endpoint)
	}
	if len(s.Metrics) > 0 {
		fmt.Fprintf(w, "  metrics:        %s\n", metricsText(s.Metrics))
	}
	if len(s.Metadata) > 0 {
		fmt.Fprintf(w, "  metadata:       %s\n", mapText(s.Metadata))
	}
}

func agoText(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	return ago(now, t.UnixNano())
}

func pluginText(s *flowctlv1.Service) string {
	return servicePlugin(s.GetPlugin(), s.GetVersion())
}

func servicePlugin(p, version string) string {
	if version != "" && !strings.Contains(p, version) {
		p += " " + version
	}
	if p == "" {
		return "-"
	}
	return p
}

func ago(now time.Time, unixNano int64) string {
	if unixNano == 0 {
		return "never"
	}
	return now.Sub(time.Unix(0, unixNano)).Round(100*time.Millisecond).String() + " ago"
}

func metricsText(m map[string]float64) string {
	return status.Pairs(m, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
}

func mapText(m map[string]string) string {
	return status.Pairs(m, func(v string) string { return v })
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
