// Package hcl is the flowctl pipeline language: it parses a pipeline file,
// gives variables their values, decodes each component's plugin configuration
// against the schema its plugin reports, maps plugin diagnostics back to
// source ranges, and prints diagnostics with snippets.
//
// Callers outside the package import it as flowhcl, because it sits next to
// github.com/hashicorp/hcl/v2, whose types (hcl.Diagnostics, hcl.Range,
// hcl.Body, hcl.EvalContext) it uses in its API.
//
// # The language
//
//	variable "count" {
//	  type        = number          # a type constraint; any type when absent
//	  default     = 1000            # a constant; no default means -var is required
//	  description = "How many events"
//	}
//	pipeline "hello" {              # optional, at most one; the name defaults to
//	  description = "ticks to a file" # the file's base name without its extension
//	}
//	source "generator" "ticks" {    # kind, component type, component name
//	  count = var.count
//	  batch {                       # sources only
//	    size   = 500                # most events per batch (default 1000)
//	    linger = "5ms"              # send a partial batch after this (default 10ms)
//	  }
//	}
//	processor "transform" "tag" {
//	  inputs = [source.ticks]       # references, required for processors and sinks
//	  set    = { env = "dev" }
//	}
//	sink "file" "out" {
//	  inputs = [processor.tag]
//	  path   = var.output
//	}
//
// A component's address is kind.name (source.ticks); names are unique per
// kind. The block's first label is the component type the plugin serves.
//
// # Phases
//
// Each phase returns hcl.Diagnostics with source ranges; a caller stops at the
// first phase with errors and prints them with WriteDiagnostics.
//
//  1. Parse / ParseFile: syntax, block structure, names, duplicates, the
//     host-owned parts of component blocks (inputs, batch). Inputs are read
//     from the syntax as references, never evaluated; whether they name a
//     declared component is the DAG's business (host/pipeline). Everything
//     Parse evaluates (variable defaults and types, descriptions, batch
//     settings) must be a constant: no variable has a value yet.
//  2. Config.EvalContext: the value of every variable (-var from the command
//     line, else the default), and the function table.
//  3. DecodeComponent: a component's remaining body against its plugin's
//     schema, to the JSON object sent in ConfigureRequest. Unset attributes
//     are absent; the plugin applies its own defaults.
//  4. Component.PluginDiagnostics: what the plugin answered Configure with,
//     pointed at the attribute (or map key, or list element) it names.
//
// Later features slot into these phases: validation rules and sensitive
// variables into phase 2, locals and environment variables as further
// sources of values in EvalContext (Config.variableValues ranks them).
//
// # Functions
//
// Expressions in component blocks can call the pure functions of the go-cty
// standard library under their Terraform names: abs, ceil, floor, log, max,
// min, parseint, pow, signum; chomp, format, formatlist, indent, join, lower,
// regex, regexall, regex_replace, replace, split, strlen, strrev, substr,
// title, trim, trimprefix, trimspace, trimsuffix, upper; chunklist, coalesce,
// coalescelist, compact, concat, contains, distinct, element, flatten, index,
// keys, length, lookup, merge, range, reverse, setunion, slice, sort, values,
// zipmap; csvdecode, jsondecode, jsonencode, tobool, tolist, tomap, tonumber,
// toset, tostring. None reads files, the environment or the clock, so a
// pipeline and its variables always decode to the same configuration.
package hcl
