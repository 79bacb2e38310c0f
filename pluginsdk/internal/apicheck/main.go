// Command apicheck keeps pluginsdk's API compatible: it compares the
// exported API of a package with a baseline using golang.org/x/exp/apidiff
// and fails on an incompatible change (`make api-check`), or writes the
// baseline (`make api-baseline`).
//
// The baseline is the package's export data written without source
// positions, so it holds no absolute path of the machine that wrote it. It
// is a module of its own so that the tool's dependencies stay out of
// flowctl's go.mod.
//
//	apicheck -write FILE IMPORT_PATH   (run in the module that holds IMPORT_PATH)
//	apicheck FILE IMPORT_PATH
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/token"
	"go/types"
	"os"

	"golang.org/x/exp/apidiff"
	"golang.org/x/tools/go/gcexportdata"
	"golang.org/x/tools/go/packages"
)

func main() {
	write := flag.Bool("write", false, "write the baseline instead of checking against it")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: apicheck [-write] BASELINE IMPORT_PATH")
		os.Exit(2)
	}
	if err := run(*write, flag.Arg(0), flag.Arg(1)); err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(1)
	}
}

func run(write bool, baseline, path string) error {
	current, err := load(path)
	if err != nil {
		return err
	}
	if write {
		var buf bytes.Buffer
		// An empty FileSet: no positions, so no paths, in the baseline.
		if err := gcexportdata.Write(&buf, token.NewFileSet(), current); err != nil {
			return err
		}
		return os.WriteFile(baseline, buf.Bytes(), 0o644)
	}
	f, err := os.Open(baseline)
	if err != nil {
		return fmt.Errorf("%w (write it with make api-baseline)", err)
	}
	defer f.Close()
	old, err := gcexportdata.Read(f, token.NewFileSet(), map[string]*types.Package{}, path)
	if err != nil {
		return fmt.Errorf("read baseline %s: %w", baseline, err)
	}
	report := apidiff.Changes(old, current)
	for _, c := range report.Changes {
		kind := "compatible"
		if !c.Compatible {
			kind = "INCOMPATIBLE"
		}
		fmt.Printf("%s: %s\n", kind, c.Message)
	}
	for _, c := range report.Changes {
		if !c.Compatible {
			return fmt.Errorf("%s changed incompatibly against %s: plugins built on it would break", path, baseline)
		}
	}
	if len(report.Changes) > 0 {
		fmt.Printf("%s grew compatibly; record it with make api-baseline\n", path)
	}
	return nil
}

func load(path string) (*types.Package, error) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedTypes | packages.NeedName | packages.NeedDeps | packages.NeedImports}, path)
	if err != nil {
		return nil, err
	}
	if len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
		return nil, fmt.Errorf("load %s: %v", path, pkgs[0].Errors)
	}
	return pkgs[0].Types, nil
}
