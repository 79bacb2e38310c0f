// Package lockfile reads and writes .flowctl.lock.hcl, the file that pins
// each third-party plugin a pipeline uses to one version and the h1 hashes of
// its binaries (one per platform).
//
// The file is written only by flowctl (`flowctl plugins lock`, `flowctl
// init`), with hclwrite, in one canonical form: plugins sorted by address,
// hashes sorted and unique. It is meant to be committed with the pipeline, so
// every machine that runs it runs the same binaries:
//
//	plugin "example.com/acme/upper" {
//	  version     = "1.2.0"
//	  constraints = "~> 1.2"
//	  hashes = [
//	    "h1:...",
//	  ]
//	}
//
// Parse keeps the source ranges of each entry, so the host can point a
// diagnostic (a binary whose hash is not pinned) at the lock file's line.
package lockfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// FileName is the lock file's name, in the pipeline's directory.
const FileName = ".flowctl.lock.hcl"

// File is a lock file.
type File struct {
	Path string
	// Plugins sorted by Address.
	Plugins []*Plugin
	// HCL is the parsed file, for diagnostics with snippets; nil when the
	// file does not exist (yet).
	HCL *hcl.File
}

// Plugin is one pinned plugin.
type Plugin struct {
	// Address is the full plugin address, e.g. "example.com/acme/upper".
	Address     string
	Version     string
	Constraints string // "" when the pipeline gave none
	Hashes      []string
	// Ranges in the file; zero for entries added in memory.
	DeclRange, VersionRange, HashesRange hcl.Range
}

// HasHash reports whether h is one of the pinned hashes.
func (p *Plugin) HasHash(h string) bool { return slices.Contains(p.Hashes, h) }

// Load reads the lock file at path. A missing file is no error: the File
// is empty and Exists reports false.
func Load(path string) (*File, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return &File{Path: path}, nil
	}
	if err != nil {
		return &File{Path: path}, hcl.Diagnostics{{
			Severity: hcl.DiagError, Summary: "Cannot read the lock file",
			Detail: fmt.Sprintf("%s. Fix its permissions, or delete it and run `flowctl plugins lock`.", err),
		}}
	}
	return Parse(path, src)
}

// Exists reports whether the file was read from disk (or written).
func (f *File) Exists() bool { return f != nil && f.HCL != nil }

// Plugin returns the entry for address, or nil.
func (f *File) Plugin(address string) *Plugin {
	if f == nil {
		return nil
	}
	for _, p := range f.Plugins {
		if p.Address == address {
			return p
		}
	}
	return nil
}

// Set adds p, or replaces the entry with its address.
func (f *File) Set(p *Plugin) {
	f.Remove(p.Address)
	i, _ := slices.BinarySearchFunc(f.Plugins, p.Address, func(e *Plugin, a string) int { return strings.Compare(e.Address, a) })
	f.Plugins = slices.Insert(f.Plugins, i, p)
}

// Remove deletes the entry for address and reports whether there was one.
func (f *File) Remove(address string) bool {
	n := len(f.Plugins)
	f.Plugins = slices.DeleteFunc(f.Plugins, func(p *Plugin) bool { return p.Address == address })
	return len(f.Plugins) != n
}

const header = `# This file is maintained by flowctl ("flowctl plugins lock", "flowctl init").
# Commit it with the pipeline; do not edit it by hand.
`

// Bytes returns the file's canonical content.
func (f *File) Bytes() []byte {
	out := hclwrite.NewEmptyFile()
	body := out.Body()
	for _, p := range f.Plugins {
		body.AppendNewline()
		b := body.AppendNewBlock("plugin", []string{p.Address}).Body()
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		if p.Constraints != "" {
			b.SetAttributeValue("constraints", cty.StringVal(p.Constraints))
		}
		b.SetAttributeRaw("hashes", hashesTokens(p.Hashes))
	}
	return append([]byte(header), hclwrite.Format(out.Bytes())...)
}

// hashesTokens writes the hashes one per line, sorted and unique, so a
// change of one hash is a one-line diff.
func hashesTokens(hashes []string) hclwrite.Tokens {
	hs := slices.Clone(hashes)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	toks := hclwrite.Tokens{
		{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")},
		{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")},
	}
	for _, h := range hs {
		toks = append(toks, hclwrite.TokensForValue(cty.StringVal(h))...)
		toks = append(toks,
			&hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")},
			&hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")})
	}
	return append(toks, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

// Write replaces the file at Path atomically: a temporary file in the same
// directory, synced, then renamed over it. A crash leaves the old file or the
// new one, never half of one.
func (f *File) Write() error {
	data := f.Bytes()
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".flowctl.lock.*.tmp")
	if err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("write lock file %s: %w", f.Path, err)
	}
	done = true
	parsed, diags := Parse(f.Path, data)
	if diags.HasErrors() {
		return fmt.Errorf("lock file %s written but does not read back: %s", f.Path, diags.Error())
	}
	f.HCL = parsed.HCL
	return nil
}

// checkVersion accepts only the full X.Y.Z form the catalog's directories use.
func checkVersion(s string) error {
	v, err := version.NewSemver(s)
	if err != nil {
		return err
	}
	if v.String() != s {
		return fmt.Errorf("write it in full as %s", v.String())
	}
	return nil
}
