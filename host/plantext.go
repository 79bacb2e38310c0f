package host

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// WriteText prints what apply would do, for `flowctl plan`: the plugins with
// version, path and hash status, then the components in the order they are
// started with their driver, inputs and parallelism, batch, error and
// restart settings.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Pipeline %q (%s)", p.Config.Pipeline.Name, p.Path)
	if d := p.Config.Pipeline.Description; d != "" {
		fmt.Fprintf(&b, ": %s", d)
	}
	b.WriteString("\n\nPlugins:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tADDRESS\tVERSION\tHASH\tPATH")
	types := make([]string, 0, len(p.Plugins))
	for t := range p.Plugins {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		r := p.Plugins[t]
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t, r.Plugin.Source, r.Plugin.Version, r.Status, r.Plugin.Path)
	}
	_ = tw.Flush()

	b.WriteString("\nComponents, in topological order:\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tADDRESS\tTYPE\tDRIVER\tINPUTS\tSETTINGS")
	for i, c := range p.Components {
		inputs := "-"
		if ins := c.Node.Inputs; len(ins) > 0 {
			s := make([]string, len(ins))
			for j, in := range ins {
				s[j] = in.String()
			}
			inputs = strings.Join(s, ", ")
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", i+1, c.Address(), c.Node.Component.Type, c.Driver, inputs, settings(c.Node.Component))
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\nShutdown timeout %s; checkpoints in %s.\n", p.Config.Pipeline.ShutdownTimeout, DefaultStateDir(p))
	b.WriteString("Nothing was started.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// settings summarises a component's host-owned settings on one line.
func settings(c *flowhcl.Component) string {
	var parts []string
	if par := c.Parallelism; par.Instances > 1 {
		s := fmt.Sprintf("%d instances", par.Instances)
		if par.ByKey {
			s += " by key"
		}
		parts = append(parts, s)
	}
	if c.Batch != nil {
		parts = append(parts, fmt.Sprintf("batch %d events/%s", c.Batch.Size, c.Batch.Linger))
	}
	if oe := c.OnError; oe != nil {
		s := "on_error " + oe.Mode.String()
		if oe.Mode == flowhcl.ErrorRetry {
			s += fmt.Sprintf(" (%d attempts, %s..%s)", oe.Retry.Attempts, oe.Retry.Delay, oe.Retry.MaxDelay)
		}
		if oe.DeadLetter != nil {
			s += " -> " + oe.DeadLetter.Address.String()
		}
		parts = append(parts, s)
	}
	r := c.Restart
	parts = append(parts, fmt.Sprintf("restart %d attempts, %s..%s", r.Attempts, r.Delay, r.MaxDelay))
	return strings.Join(parts, "; ")
}
