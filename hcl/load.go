package hcl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Pipeline files are the .hcl files of a directory, except variable files,
// which hold values for -var-file rather than configuration, and hidden
// files such as the lock file (.flowctl.lock.hcl).
const (
	pipelineFileExt = ".hcl"
	varFileSuffix   = ".vars.hcl"
)

// Load reads the pipeline at path. A file is parsed alone (ParseFile). A
// directory's pipeline files — every *.hcl file directly in it, except hidden
// files and variable files (*.vars.hcl) — are parsed in name order into one
// Config, as if they were one file; a name declared in two of them is a
// duplicate like any other. Subdirectories are not read, so a directory can
// hold other pipelines or modules' test fixtures below it.
//
// File names in ranges are the directory joined with each base name, so
// they are relative when path is. Without a pipeline block, the pipeline is
// named after the directory.
//
// Like Parse, Load returns a non-nil Config even with errors.
func Load(path string) (*Config, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil || !info.IsDir() {
		return ParseFile(path) // which reports a path it cannot read
	}

	names, err := pipelineFiles(path)
	if err != nil {
		return &Config{Files: map[string]*hcl.File{}, Dir: path}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read pipeline directory",
			Detail:   fmt.Sprintf("Cannot list %s: %s.", path, err),
		}}
	}
	if len(names) == 0 {
		return &Config{Files: map[string]*hcl.File{}, Dir: path}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No pipeline files in " + path,
			Detail: fmt.Sprintf("A pipeline directory holds one or more %s files directly in it. Hidden files and variable files (*%s, for -var-file) are not pipeline files, and subdirectories are not read.",
				pipelineFileExt, varFileSuffix),
		}}
	}

	var diags hcl.Diagnostics
	files := make([]source, 0, len(names))
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, readError(name, err))
			continue
		}
		files = append(files, source{name, src})
	}
	cfg, moreDiags := parseSources(path, dirPipelineName(path), files)
	return cfg, append(diags, moreDiags...)
}

// pipelineFiles lists the pipeline files directly in dir, sorted by name.
func pipelineFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		base := e.Name()
		if strings.HasPrefix(base, ".") || !strings.HasSuffix(base, pipelineFileExt) || strings.HasSuffix(base, varFileSuffix) {
			continue
		}
		name := filepath.Join(dir, base)
		// Stat, not the entry's type, so a symlink to a file counts.
		if info, err := os.Stat(name); err != nil || info.IsDir() {
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// dirPipelineName names a pipeline after its directory. The absolute path
// gives "." and ".." a real name.
func dirPipelineName(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return filepath.Base(dir)
}

// ParseFile reads and parses the pipeline file at path. The path is kept as
// given: it is the file name diagnostics print.
func ParseFile(path string) (*Config, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return &Config{Files: map[string]*hcl.File{}, Dir: filepath.Dir(path)}, hcl.Diagnostics{readError(path, err)}
	}
	return Parse(path, src)
}

func readError(path string, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Failed to read pipeline file",
		Detail:   fmt.Sprintf("Cannot read %s: %s.", path, err),
	}
}

// Parse parses a pipeline file's source. filename is used in ranges and
// diagnostics, and its directory is the pipeline's Dir.
//
// The returned Config is never nil: even with errors its Files holds what was
// parsed, so the caller can print the diagnostics with snippets. A Config
// returned with errors is incomplete and must not be run.
func Parse(filename string, src []byte) (*Config, hcl.Diagnostics) {
	return parseSources(filepath.Dir(filename), defaultPipelineName(filename), []source{{filename, src}})
}

func defaultPipelineName(filename string) string {
	base := filepath.Base(filename)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// source is one pipeline file's name and content.
type source struct {
	name string
	src  []byte
}

// parseSources parses the files of one pipeline: their blocks form one
// configuration, as if written in one file in the order given. name is the
// pipeline's name unless a pipeline block says otherwise.
func parseSources(dir, name string, files []source) (*Config, hcl.Diagnostics) {
	cfg := &Config{Files: map[string]*hcl.File{}, Dir: dir}
	var diags hcl.Diagnostics
	var bodies []hcl.Body
	for _, f := range files {
		file, moreDiags := hclsyntax.ParseConfig(f.src, f.name, hcl.InitialPos)
		diags = append(diags, moreDiags...)
		if file != nil {
			cfg.Files[f.name] = file
			bodies = append(bodies, file.Body)
		}
	}
	// Decoding a body with syntax errors only adds confusing follow-on
	// errors; every file's syntax errors are reported at once, though.
	if diags.HasErrors() {
		return cfg, diags
	}

	cfg.Pipeline.Name = name
	cfg.Pipeline.ShutdownTimeout = DefaultShutdownTimeout
	cfg.Pipeline.Restart = defaultRestart()
	p := &parser{
		cfg:        cfg,
		variables:  map[string]*Variable{},
		components: map[Address]*Component{},
		locals:     map[string]*Local{},
		plugins:    map[string]*RequiredPlugin{},
	}
	for _, body := range bodies {
		diags = append(diags, p.body(body)...)
	}
	// Blocks may refer to blocks declared after them, or in a later file.
	for _, c := range p.defaultRestart {
		c.Restart = cfg.Pipeline.Restart
	}
	for _, c := range p.defaultDriver {
		c.Driver = cfg.Pipeline.Driver
		if c.Driver == nil {
			c.Driver = defaultDriver()
		}
	}
	diags = append(diags, p.resolveLocals()...)
	return cfg, diags
}

// body reads the top-level blocks of one file.
func (p *parser) body(body hcl.Body) hcl.Diagnostics {
	content, diags := body.Content(rootSchema)
	for _, block := range content.Blocks {
		switch block.Type {
		case "variable":
			diags = append(diags, p.variable(block)...)
		case "pipeline":
			diags = append(diags, p.pipeline(block)...)
		case flowctlBlock:
			diags = append(diags, p.flowctlBlock(block)...)
		case localsBlock:
			diags = append(diags, p.localsBlock(block)...)
		default:
			kind, err := ParseKind(block.Type)
			if err != nil {
				// Unreachable: rootSchema admits only the kinds.
				panic(fmt.Sprintf("flowctl hcl: block type %q passed the root schema: %v", block.Type, err))
			}
			diags = append(diags, p.component(kind, block)...)
		}
	}
	return diags
}
