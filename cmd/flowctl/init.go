package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/host"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "start a pipeline: write a starter pipeline.hcl and the lock file",
		ArgsUsage: "[DIR]",
		Description: "In DIR (default the current directory, created if missing): when it holds no .hcl files, writes " +
			"pipeline.hcl, a small working pipeline (generator -> transform -> stdout) to edit. Then resolves " +
			"the pipeline's required_plugins against the installed plugins and writes .flowctl.lock.hcl, like " +
			"`flowctl plugins lock`. Existing pipeline files are never overwritten; running init again refreshes " +
			"the lock file.",
		Flags: append([]cli.Flag{pluginDirFlag}, logFlags...),
		Action: func(c *cli.Context) error {
			dir, err := pipelineArg(c)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			wrote, err := writeStarter(dir)
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if wrote != "" {
				fmt.Fprintf(c.App.Writer, "Wrote %s: a starter pipeline (generator -> transform -> stdout).\n", wrote)
			}
			h, err := newHost(c)
			if err != nil {
				return err
			}
			if err := lockPipeline(c, h, dir, host.LockOptions{}); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "\nNext: flowctl validate %s, then flowctl apply %s.\n", dir, dir)
			return nil
		},
	}
}

// writeStarter writes pipeline.hcl into dir unless dir already has pipeline
// files; it returns the path written, or "".
func writeStarter(dir string) (string, error) {
	existing, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil || len(existing) > 0 {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "pipeline.hcl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(f, starterPipeline, filepath.Base(abs)); err != nil {
		_ = f.Close()
		return "", err
	}
	return path, f.Close()
}

// starterPipeline runs with the built-in plugins alone, so it works before
// anything is installed. %q is the pipeline's name.
const starterPipeline = `# A flowctl pipeline. Run it with: flowctl apply
# Language reference: flowctl validate --help; plugins: flowctl plugins list.

flowctl {
  # Third-party plugins this pipeline uses, pinned in .flowctl.lock.hcl by
  # "flowctl plugins lock". The built-in plugins need no entry.
  required_plugins {
    # kafka = { source = "example.com/acme/kafka", version = "~> 1.4" }
  }
}

variable "count" {
  type        = number
  default     = 10
  description = "How many events the generator emits."
}

pipeline %q {
  description = "Generated events, tagged, printed."
}

source "generator" "ticks" {
  count = var.count
}

processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "dev" }
}

sink "stdout" "print" {
  inputs = [processor.tag]
}
`
