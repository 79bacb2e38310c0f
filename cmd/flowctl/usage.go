package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Usage errors exit with exitUsage (2), whatever part of the command line
// was wrong: an unknown command or flag, a missing or extra argument. They
// print one line saying what was wrong, a suggestion when a name is close
// to a real one, and where the help is, instead of the whole help text
// (which would bury the line that matters).

// withUsageErrors sets the usage-error handling on app and every command
// under it.
func withUsageErrors(app *cli.App) *cli.App {
	app.OnUsageError = onUsageError
	app.Action = func(c *cli.Context) error { return unknownCommand(c, app.Commands, "") }
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.OnUsageError == nil {
				cmd.OnUsageError = onUsageError
			}
			if len(cmd.Subcommands) > 0 {
				if cmd.Action == nil {
					cmd.Action = func(c *cli.Context) error { return unknownCommand(c, cmd.Subcommands, cmd.Name) }
				}
				walk(cmd.Subcommands)
			}
		}
	}
	walk(app.Commands)
	return app
}

// onUsageError handles a flag that does not parse.
func onUsageError(c *cli.Context, err error, _ bool) error {
	msg := "Error: " + err.Error()
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		for _, f := range c.Command.VisibleFlags() {
			names = append(names, f.Names()...)
		}
		if s := closest(names, strings.TrimLeft(name, "-")); s != "" {
			dashes := "--"
			if len(s) == 1 {
				dashes = "-"
			}
			msg += fmt.Sprintf(". Did you mean %s%s?", dashes, s)
		}
	}
	path := c.App.Name
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		path += " " + c.Command.FullName()
	}
	return cli.Exit(fmt.Sprintf("%s\nRun `%s --help` for usage.", msg, path), exitUsage)
}

// unknownCommand is the action of flowctl itself and of commands with
// subcommands: without arguments it shows the help; with one, the argument
// names no command.
func unknownCommand(c *cli.Context, cmds []*cli.Command, parent string) error {
	path := strings.TrimSpace(c.App.Name + " " + parent)
	if !c.Args().Present() {
		if parent == "" {
			return cli.ShowAppHelp(c)
		}
		return cli.ShowSubcommandHelp(c)
	}
	name := c.Args().First()
	msg := fmt.Sprintf("Error: %q is not a %s command.", name, path)
	var names []string
	for _, cmd := range cmds {
		if !cmd.Hidden {
			names = append(names, cmd.Names()...)
		}
	}
	if s := closest(names, name); s != "" {
		msg += fmt.Sprintf(" Did you mean %q?", s)
	}
	return cli.Exit(fmt.Sprintf("%s\nRun `%s --help` for usage.", msg, path), exitUsage)
}

// closest returns the name nearest to typed when it is close enough to be
// a typo (at most two edits), or a name typed is the start of.
func closest(names []string, typed string) string {
	best, bestDist := "", 3
	for _, n := range names {
		d := editDistance(typed, n)
		if d < bestDist || (best == "" && len(typed) >= 3 && strings.HasPrefix(n, typed)) {
			best, bestDist = n, min(d, bestDist)
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
