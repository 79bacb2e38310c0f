package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/host/health"
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
		return writeJSON(c.App.Writer, resp)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.GetId(), kindText(s.GetKind()), pluginText(s),
			health.FromProto(s.GetState()), ago(now, s.GetLastHeartbeatUnixNano()), by, run, s.GetMessage())
	}
	if len(resp.GetServices()) == 0 {
		fmt.Fprintf(tw, "(no components registered in run %s)\n", resp.GetRunId())
	}
	return tw.Flush()
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a run and its components' health and counters",
		ArgsUsage: "[COMPONENT]",
		Description: "Shows the current run of the control plane at --endpoint (or FLOWCTL_ENDPOINT; default: the running one found through its run file, see --state-dir): " +
			"per component its state and the events it received, emitted, acked and failed, its restarts and last error " +
			"(the same counters as apply's summary). With COMPONENT, that component's registration. --run shows an " +
			"earlier run. --watch keeps showing changes until interrupted (with -o json, one JSON object per line).",
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "keep updating until interrupted"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often --watch refreshes the counters"},
			&cli.StringFlag{Name: "run", Usage: "show this earlier run instead of the current one"}),
		Action: status,
	}
}

func status(c *cli.Context) error {
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
	if id := c.Args().First(); id != "" {
		svc, err := cl.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: id, RunId: c.String("run")})
		if err != nil {
			return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
		}
		if c.String("output") == "json" {
			return writeJSON(c.App.Writer, svc)
		}
		writeService(c.App.Writer, svc)
		return nil
	}
	run, err := cl.GetRun(ctx, &flowctlv1.GetRunRequest{Id: c.String("run")})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	svcs, err := cl.ListServices(ctx, &flowctlv1.ListServicesRequest{AllRuns: c.String("run") != ""})
	if err != nil {
		return cli.Exit("Error: "+cl.Explain(err).Error(), 1)
	}
	if c.String("output") == "json" {
		return writeJSON(c.App.Writer, statusDoc(run, svcs.GetServices()))
	}
	writeRun(c.App.Writer, run, svcs.GetServices())
	return nil
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

// statusJSON is `status -o json`: the run and its registrations.
type statusJSON struct {
	Run      json.RawMessage   `json:"run"`
	Services []json.RawMessage `json:"services"`
}

func statusDoc(run *flowctlv1.Run, svcs []*flowctlv1.Service) statusJSON {
	doc := statusJSON{Run: protoJSON(run), Services: []json.RawMessage{}}
	for _, s := range svcs {
		if s.GetRunId() == run.GetId() {
			doc.Services = append(doc.Services, protoJSON(s))
		}
	}
	return doc
}

var jsonOpts = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

func protoJSON(m proto.Message) json.RawMessage {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		return json.RawMessage(strconv.Quote(err.Error()))
	}
	return b
}

func writeJSON(w io.Writer, v any) error {
	if m, ok := v.(proto.Message); ok {
		v = protoJSON(m)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func writeRun(w io.Writer, run *flowctlv1.Run, svcs []*flowctlv1.Service) {
	name := run.GetPipeline()
	if name == "" {
		name = "(standalone control plane)"
	}
	fmt.Fprintf(w, "Run %s  pipeline %s  %s", run.GetId(), name, runStateText(run.GetState()))
	if t := run.GetStartedUnixNano(); t != 0 {
		end := time.Now()
		if e := run.GetEndedUnixNano(); e != 0 {
			end = time.Unix(0, e)
		}
		fmt.Fprintf(w, "  for %s", end.Sub(time.Unix(0, t)).Round(time.Second))
	}
	fmt.Fprintln(w)
	if run.GetError() != "" {
		fmt.Fprintf(w, "Error: %s\n", firstLineOf(run.GetError()))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tRECEIVED\tEMITTED\tACKED\tFAILED\tRESTARTS\tBACKLOG\tLAST ERROR")
	listed := map[string]bool{}
	for _, cc := range run.GetComponents() {
		listed[cc.GetId()] = true
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", cc.GetId(), health.FromProto(cc.GetState()),
			cc.GetReceived(), cc.GetEmitted(), cc.GetAcked(), cc.GetFailed(), cc.GetRestarts(), cc.GetBacklog(), firstLineOf(cc.GetLastError()))
	}
	_ = tw.Flush()
	var others []*flowctlv1.Service
	for _, s := range svcs {
		if s.GetRunId() == run.GetId() && !listed[s.GetId()] {
			others = append(others, s)
		}
	}
	if len(others) > 0 {
		fmt.Fprintln(w, "\nSelf-registered components:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tPLUGIN\tSTATE\tLAST HEARTBEAT\tMETRICS")
		for _, s := range others {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.GetId(), kindText(s.GetKind()), pluginText(s),
				health.FromProto(s.GetState()), ago(time.Now(), s.GetLastHeartbeatUnixNano()), metricsText(s.GetMetrics()))
		}
		_ = tw.Flush()
	}
}

func writeService(w io.Writer, s *flowctlv1.Service) {
	fmt.Fprintf(w, "%s (%s, %s)\n", s.GetId(), kindText(s.GetKind()), pluginText(s))
	fmt.Fprintf(w, "  state:          %s since %s\n", health.FromProto(s.GetState()), time.Unix(0, s.GetStateSinceUnixNano()).Format(time.RFC3339))
	if s.GetMessage() != "" {
		fmt.Fprintf(w, "  why:            %s\n", s.GetMessage())
	}
	fmt.Fprintf(w, "  last heartbeat: %s\n", ago(time.Now(), s.GetLastHeartbeatUnixNano()))
	fmt.Fprintf(w, "  run:            %s\n", s.GetRunId())
	if s.GetEndpoint() != "" {
		fmt.Fprintf(w, "  endpoint:       %s\n", s.GetEndpoint())
	}
	if len(s.GetMetrics()) > 0 {
		fmt.Fprintf(w, "  metrics:        %s\n", metricsText(s.GetMetrics()))
	}
	if len(s.GetMetadata()) > 0 {
		fmt.Fprintf(w, "  metadata:       %s\n", mapText(s.GetMetadata()))
	}
}

func kindText(k flowctlv1.Kind) string {
	if k == flowctlv1.Kind_KIND_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}

func runStateText(s flowctlv1.RunState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RUN_STATE_"))
}

func pluginText(s *flowctlv1.Service) string {
	p := s.GetPlugin()
	if s.GetVersion() != "" && !strings.Contains(p, s.GetVersion()) {
		p += " " + s.GetVersion()
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
	return pairsText(m, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
}

func mapText(m map[string]string) string {
	return pairsText(m, func(v string) string { return v })
}

// pairsText renders m as "k=v k=v", sorted by key.
func pairsText[V any](m map[string]V, format func(V) string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + format(m[k])
	}
	return strings.Join(parts, " ")
}

func firstLineOf(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
