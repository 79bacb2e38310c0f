package hcl

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// This file holds the driver block: where a component's plugin runs.
//
//	driver "docker" { image = "...", env = {...}, mounts = [...], network, cpu, memory }
//	driver "kubernetes" { namespace, image, image_pull_policy, resources = {...}, labels, service_account, kubeconfig, env }
//
// A driver block in the pipeline block is the default of every component
// without one of its own; a component's own block replaces it whole. Like
// the delivery settings, driver settings are read at parse time and must be
// constants.

// Driver names, as written in driver blocks.
const (
	DriverProcess    = "process"
	DriverDocker     = "docker"
	DriverKubernetes = "kubernetes"
)

const driverBlock = "driver"

// Driver is where a component's plugin runs and how.
type Driver struct {
	// Name is the driver: DriverProcess (the default), DriverDocker or
	// DriverKubernetes.
	Name string
	// Image is the container image; empty for docker means the plugin
	// binary wrapped into an image on the fly. Required for kubernetes.
	Image string
	// Env is added to the plugin's environment (docker, kubernetes).
	Env map[string]string
	// Mounts are docker bind mounts, "SOURCE:TARGET" or
	// "SOURCE:TARGET:ro"; a relative SOURCE is relative to the pipeline's
	// directory.
	Mounts []string
	// Network is the docker network the container joins; empty for the
	// daemon's default bridge.
	Network string
	// CPU is the docker CPU limit in cores (0: none); Memory the memory
	// limit in bytes (0: none).
	CPU    float64
	Memory int64
	// Namespace, Resources ("cpu", "memory" quantities, set as requests
	// and limits), Labels, ServiceAccount, Kubeconfig (a path; empty for
	// $KUBECONFIG, ~/.kube/config or the in-cluster configuration) and
	// PullPolicy (image_pull_policy) are for kubernetes.
	Namespace      string
	Resources      map[string]string
	Labels         map[string]string
	ServiceAccount string
	Kubeconfig     string
	PullPolicy     string
	// DeclRange is the driver block's header; the zero Range for the
	// built-in default.
	DeclRange hcl.Range
}

// String is the driver's name.
func (d *Driver) String() string { return d.Name }

// defaultDriver runs a component as a local process.
func defaultDriver() *Driver { return &Driver{Name: DriverProcess} }

// driverAttrs lists each driver's attributes in the order diagnostics name
// them.
var driverAttrs = map[string][]string{
	DriverProcess:    nil,
	DriverDocker:     {"image", "env", "mounts", "network", "cpu", "memory"},
	DriverKubernetes: {"namespace", "image", "image_pull_policy", "resources", "labels", "service_account", "kubeconfig", "env"},
}

var pullPolicies = []string{"Always", "IfNotPresent", "Never"}

// parseDriver reads the driver block among blocks (where names the
// enclosing block). ok is false when there is none.
func parseDriver(where string, blocks hcl.Blocks) (d *Driver, ok bool, diags hcl.Diagnostics) {
	block, dupDiags := singleBlock(where, driverBlock, blocks)
	if block == nil {
		return nil, false, nil
	}
	d, diags = driverFromBlock(block)
	return d, true, append(diags, dupDiags...)
}

func driverFromBlock(block *hcl.Block) (*Driver, hcl.Diagnostics) {
	name := block.Labels[0]
	attrs, known := driverAttrs[name]
	if !known {
		names := slices.Sorted(maps.Keys(driverAttrs))
		detail := fmt.Sprintf("flowctl runs plugins with the drivers %s; there is no %q driver.", strings.Join(quoteAll(names), ", "), name)
		if s := NameSuggestion(name, names); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown driver",
			Detail:   detail,
			Subject:  block.LabelRanges[0].Ptr(),
		}}
	}
	schema := &hcl.BodySchema{}
	for _, a := range attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a})
	}
	d := &Driver{Name: name, DeclRange: block.DefRange}
	content, diags := block.Body.Content(schema)
	for _, diag := range diags {
		if diag.Summary == "Unsupported argument" {
			diag.Detail = fmt.Sprintf("The %s driver takes %s; this is not one of them.", name, strings.Join(attrs, ", "))
			if len(attrs) == 0 {
				diag.Detail = fmt.Sprintf("The %s driver takes no settings.", name)
			}
		}
	}
	for _, a := range attrs {
		attr, ok := content.Attributes[a]
		if !ok {
			continue
		}
		diags = append(diags, d.set(attr)...)
	}
	if name == DriverKubernetes && d.Image == "" && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing image",
			Detail:   `A plugin runs in Kubernetes from an image the cluster can pull (or already has, with image_pull_policy = "Never"): set image = "REPOSITORY:TAG".`,
			Subject:  block.DefRange.Ptr(),
		})
	}
	sortBySource(diags)
	return d, diags
}

// set reads one attribute of a driver block into d.
func (d *Driver) set(attr *hcl.Attribute) hcl.Diagnostics {
	var diags hcl.Diagnostics
	switch attr.Name {
	case "image", "network", "namespace", "service_account", "kubeconfig", "image_pull_policy":
		s, moreDiags := staticString(attr)
		if moreDiags.HasErrors() {
			return moreDiags
		}
		switch attr.Name {
		case "image":
			d.Image = s
		case "network":
			d.Network = s
		case "namespace":
			d.Namespace = s
			diags = dnsLabel(attr, s)
		case "service_account":
			d.ServiceAccount = s
		case "kubeconfig":
			d.Kubeconfig = s
		case "image_pull_policy":
			d.PullPolicy = s
			if !slices.Contains(pullPolicies, s) {
				diags = invalidDriverAttr(attr, fmt.Sprintf("image_pull_policy is %s, not %q.", strings.Join(quoteAll(pullPolicies), ", "), s))
			}
		}
	case "env", "labels", "resources":
		m, moreDiags := stringMap(attr)
		if moreDiags.HasErrors() {
			return moreDiags
		}
		switch attr.Name {
		case "env":
			d.Env = m
		case "labels":
			d.Labels = m
		case "resources":
			d.Resources = m
			diags = checkResources(attr, m)
		}
	case "mounts":
		if _, moreDiags := staticValue(attr, cty.List(cty.String)); moreDiags.HasErrors() {
			return moreDiags
		}
		exprs, _ := hcl.ExprList(attr.Expr)
		for _, expr := range exprs {
			v, _ := expr.Value(nil)
			m := v.AsString()
			parts := strings.Split(m, ":")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") || (len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw") {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid driver mount",
					Detail:   fmt.Sprintf("A mount is \"SOURCE:TARGET\" or \"SOURCE:TARGET:ro\", with an absolute TARGET inside the container, for example \"./data:/data:ro\"; not %q.", m),
					Subject:  expr.Range().Ptr(),
				})
				continue
			}
			d.Mounts = append(d.Mounts, m)
		}
	case "cpu":
		v, moreDiags := staticValue(attr, cty.Number)
		if moreDiags.HasErrors() {
			return moreDiags
		}
		f, _ := v.AsBigFloat().Float64()
		if f <= 0 || f > 1024 {
			return invalidDriverAttr(attr, fmt.Sprintf("cpu is how many CPU cores the container may use, such as 0.5 or 2: a number greater than zero, not %s.", v.AsBigFloat().Text('g', -1)))
		}
		d.CPU = f
	case "memory":
		s, moreDiags := staticString(attr)
		if moreDiags.HasErrors() {
			return moreDiags
		}
		n, err := ParseMemory(s)
		if err != nil {
			return invalidDriverAttr(attr, fmt.Sprintf("memory is the container's memory limit, such as \"256MiB\", \"512m\" or \"2GiB\" (k, m, g are binary multiples as in docker run --memory): %s.", err))
		}
		d.Memory = n
	}
	return diags
}

func invalidDriverAttr(attr *hcl.Attribute, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid driver " + attr.Name,
		Detail:   detail,
		Subject:  attr.Expr.Range().Ptr(),
	}}
}

func stringMap(attr *hcl.Attribute) (map[string]string, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.Map(cty.String))
	if diags.HasErrors() {
		return nil, diags
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		out[k] = e.AsString()
	}
	return out, nil
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func dnsLabel(attr *hcl.Attribute, s string) hcl.Diagnostics {
	if len(s) <= 63 && dnsLabelRE.MatchString(s) {
		return nil
	}
	return invalidDriverAttr(attr, fmt.Sprintf("A Kubernetes namespace is a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit; not %q.", s))
}

// quantityRE is the syntax of a Kubernetes resource quantity.
var quantityRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

func checkResources(attr *hcl.Attribute, m map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch {
		case k != "cpu" && k != "memory":
			diags = append(diags, invalidDriverAttr(attr, fmt.Sprintf("resources sets \"cpu\" and \"memory\" (each both the request and the limit of the plugin's container); %q is neither.", k))...)
		case !quantityRE.MatchString(m[k]):
			diags = append(diags, invalidDriverAttr(attr, fmt.Sprintf("resources.%s is a Kubernetes quantity such as \"250m\" (CPU) or \"128Mi\" (memory), not %q.", k, m[k]))...)
		}
	}
	return diags
}

// ParseMemory reads a memory size: a whole number of bytes, or one with a
// suffix k, m, g, t (binary multiples, as docker run --memory reads them),
// with or without a trailing "b", "ib" or "iB".
func ParseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size greater than zero", s)
	}
	b := int64(f * float64(mult))
	if b < 4<<20 {
		return 0, fmt.Errorf("%q is less than docker's minimum of 4MiB", s)
	}
	return b, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
