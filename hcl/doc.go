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
//	  shutdown_timeout = "30s"      # longest drain and stop once told to (default 30s)
//	  restart {                     # default restart policy of every component
//	    attempts  = 3               # restarts before the pipeline fails; 0 = never (default 3)
//	    delay     = "1s"            # wait before the first restart, doubling (default 1s)
//	    max_delay = "30s"           # longest wait (default 30s, never below delay)
//	  }
//	  driver "docker" {}            # default driver of every component (default: process)
//	}
//	source "generator" "ticks" {    # kind, component type, component name
//	  count = var.count
//	  batch {                       # sources only
//	    size   = 500                # most events per batch (default 1000)
//	    linger = "5ms"              # send a partial batch after this (default 10ms)
//	  }
//	  restart {                     # any component; replaces the pipeline's whole
//	    attempts = 10
//	  }
//	}
//	processor "transform" "tag" {
//	  inputs   = [source.ticks]     # references, required for processors and sinks
//	  on_error = "retry"            # processors and sinks: "fail" (default), "retry"
//	  retry {                       # or "dead_letter"; retry only with "retry"
//	    attempts  = 3               # sends of failed events again, at least 1 (default 3)
//	    delay     = "100ms"         # wait before the first retry, doubling (default 100ms)
//	    max_delay = "5s"            # longest wait (default 5s, never below delay)
//	  }
//	  dead_letter = sink.failed     # where events go once their retries run out
//	  parallelism  = 3              # processors and sinks: instances, 1 to 64 (default 1)
//	  partition_by = "key"          # same key, same instance, in order (default: any)
//	  set          = { env = "dev" }
//	}
//	sink "file" "out" {
//	  inputs      = [processor.tag]
//	  dead_letter = sink.failed     # alone: on_error = "dead_letter"
//	  path        = var.output
//	  driver "kubernetes" {         # any component; replaces the pipeline's whole
//	    image = "flowctl:0.1.0"     # (driver.go lists each driver's settings)
//	  }
//	}
//	sink "file" "failed" {          # a dead-letter sink needs no inputs
//	  path = "failed.jsonl"
//	}
//
// A component's address is kind.name (source.ticks); names are unique per
// kind. The block's first label is the component type the plugin serves.
//
// The host owns inputs, batch, restart, on_error, retry, dead_letter,
// parallelism, partition_by and driver in every component block: no plugin sees them or can declare an attribute by
// those names. A component's restart block (or else the pipeline's) says how
// its plugin is restarted after it crashes; a source has nothing else, since
// it does not fail event by event. on_error says what a processor or sink
// does with an event it fails: "fail" stops the pipeline, "retry" sends it
// again as its retry block says and, once the retries run out, dead-letters
// it when dead_letter is set or else fails the run, and "dead_letter" sends
// it with its error to the sink dead_letter names. dead_letter must name a
// sink; that the sink exists, is not the component itself and has no
// dead_letter of its own is checked with the rest of the pipeline's shape
// (host/pipeline).
//
// parallelism runs a processor or sink as several instances, each a plugin
// of its own, restarted on its own. Each batch goes whole to whichever
// instance is ready for it, or with partition_by = "key" is split by a hash
// of the event keys, so that one key's events reach one instance in order.
// A source is one instance: its positions are one sequence.
//
// # Phases
//
// Each phase returns hcl.Diagnostics with source ranges; a caller stops at the
// first phase with errors and prints them with WriteDiagnostics.
//
//  1. Parse / ParseFile: syntax, block structure, names, duplicates, the
//     host-owned parts of the pipeline block (shutdown_timeout, restart,
//     driver) and of component blocks (inputs, batch, restart, on_error,
//     retry, dead_letter, driver). Inputs and dead_letter are read from the syntax as
//     references, never evaluated; whether they name a declared component
//     is the DAG's business (host/pipeline). Everything Parse evaluates
//     (variable defaults and types, descriptions, batch, delivery and
//     driver settings) must be a constant: no variable has a value yet.
//  2. Config.EvalContext: the value of every variable (-var from the command
//     line, else the default), and the function table.
//  3. DecodeComponent: a component's remaining body against its plugin's
//     schema, to the JSON object sent in ConfigureRequest. Unset attributes
//     are absent; the plugin applies its own defaults.
//     DecodeComponentSensitive also lists the text of its sensitive values
//     (see sensitive.go) and Component.DecodeEnv evaluates its env
//     attribute.
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
// The to* conversions keep a sensitive argument's mark and never quote it
// in their errors.
package hcl
