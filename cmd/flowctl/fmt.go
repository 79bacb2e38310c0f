package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/hcl/format"
)

// exitFmtCheck is fmt -check's exit code when a file needs formatting, as
// Terraform's fmt uses it.
const exitFmtCheck = 3

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "rewrite pipeline files in the canonical format",
		ArgsUsage: "[FILE|DIR|-]...",
		Description: "Rewrites each pipeline file (default: the .hcl files of the current directory; -recursive " +
			"descends into subdirectories, skipping hidden ones) in the canonical layout: two-space indentation, " +
			"aligned `=`, single blank lines, one trailing newline. Prints the names of the files it changed. " +
			"A file with syntax errors is left alone and reported. `-` formats stdin to stdout.\n\n" +
			"-check changes nothing and exits 3 when a file needs formatting (for CI); -diff prints what changes.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "check", Usage: "change nothing; exit 3 when a file is not formatted"},
			&cli.BoolFlag{Name: "diff", Usage: "print a unified diff of the changes"},
			&cli.BoolFlag{Name: "recursive", Usage: "also format files in subdirectories"},
			&cli.BoolFlag{Name: "list", Value: true, Usage: "print the names of files that change"},
		},
		Action: fmtAction,
	}
}

func fmtAction(c *cli.Context) error {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	if len(paths) == 1 && paths[0] == "-" {
		return fmtStdin(c)
	}
	unformatted, failed := 0, 0
	for _, p := range paths {
		files, err := format.Files(p, c.Bool("recursive"))
		if err != nil {
			return cli.Exit("Error: "+err.Error(), 1)
		}
		for _, f := range files {
			changed, err := fmtFile(c, f)
			switch {
			case err != nil:
				failed++
			case changed:
				unformatted++
			}
		}
	}
	switch {
	case failed > 0:
		return cli.Exit("", 1)
	case c.Bool("check") && unformatted > 0:
		return cli.Exit("", exitFmtCheck)
	}
	return nil
}

// fmtFile formats one file, reporting whether it was (or with -check, would
// be) changed. Syntax errors are printed and returned.
func fmtFile(c *cli.Context, path string) (bool, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "Error: %v\n", err)
		return false, err
	}
	out, diags := format.Source(path, src)
	if diags.HasErrors() {
		printDiagnostics(c, sourceFiles(path, src), diags)
		return false, diags
	}
	if bytes.Equal(src, out) {
		return false, nil
	}
	if c.Bool("list") {
		fmt.Fprintln(c.App.Writer, path)
	}
	if c.Bool("diff") {
		fmt.Fprint(c.App.Writer, format.Diff(path+" (original)", path+" (formatted)", src, out))
	}
	if !c.Bool("check") {
		if err := writeKeepingMode(path, out); err != nil {
			fmt.Fprintf(c.App.ErrWriter, "Error: %v\n", err)
			return true, err
		}
	}
	return true, nil
}

func fmtStdin(c *cli.Context) error {
	src, err := io.ReadAll(c.App.Reader)
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	out, diags := format.Source("<stdin>", src)
	if diags.HasErrors() {
		printDiagnostics(c, sourceFiles("<stdin>", src), diags)
		return cli.Exit("", 1)
	}
	if c.Bool("check") && !bytes.Equal(src, out) {
		return cli.Exit("", exitFmtCheck)
	}
	_, err = c.App.Writer.Write(out)
	return err
}

// sourceFiles lets diagnostics about one unparsable file print its source
// lines.
func sourceFiles(name string, src []byte) map[string]*hcl.File {
	return map[string]*hcl.File{name: {Bytes: src}}
}

// writeKeepingMode replaces path's content through a temporary file and a
// rename, so an interrupted fmt never leaves half a file.
func writeKeepingMode(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".fmt-tmp"
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
