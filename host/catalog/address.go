package catalog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultHostname is the hostname of an address written without one.
const DefaultHostname = "plugins.flowctl.dev"

// Address names a plugin: [hostname/]namespace/name, e.g.
// "example.com/acme/kafka". The hostname only namespaces plugins (and their
// directories); nothing is fetched from it.
type Address struct {
	Hostname, Namespace, Name string
}

// ParseAddress parses s. Namespace and name hold lower-case letters,
// digits, '-' and '_', and the name starts with a letter, so that both are
// safe as directory names on every platform; the hostname is a DNS name with
// an optional port, lower-cased. A missing hostname is DefaultHostname.
func ParseAddress(s string) (Address, error) {
	parts := strings.Split(s, "/")
	var a Address
	switch len(parts) {
	case 2:
		a = Address{Hostname: DefaultHostname, Namespace: parts[0], Name: parts[1]}
	case 3:
		a = Address{Hostname: strings.ToLower(parts[0]), Namespace: parts[1], Name: parts[2]}
	default:
		return Address{}, addressError(s, "")
	}
	if why := a.invalid(); why != "" {
		return Address{}, addressError(s, why)
	}
	return a, nil
}

func addressError(s, why string) error {
	msg := fmt.Sprintf("invalid plugin address %q: want [hostname/]namespace/name, e.g. example.com/acme/kafka", s)
	if why != "" {
		msg += "; " + why
	}
	return errors.New(msg)
}

// invalid says what is wrong with a's parts, or "".
func (a Address) invalid() string {
	switch {
	case !validHostname(a.Hostname):
		return fmt.Sprintf("hostname %q is not a DNS name (letters, digits, dots and dashes, optionally :port)", a.Hostname)
	case !validPart(a.Namespace):
		return fmt.Sprintf("namespace %q may hold only lower-case letters, digits, '-' and '_'", a.Namespace)
	case !validPart(a.Name) || !isLower(a.Name[0]):
		return fmt.Sprintf("name %q may hold only lower-case letters, digits, '-' and '_', and must start with a letter", a.Name)
	}
	return ""
}

// String returns the full address, hostname included, so that it can key
// lock files and directories unambiguously.
func (a Address) String() string {
	return a.Hostname + "/" + a.Namespace + "/" + a.Name
}

// IsBuiltin reports whether a names a plugin shipped inside flowctl.
func (a Address) IsBuiltin() bool {
	return a.Hostname == DefaultHostname && a.Namespace == BuiltinNamespace
}

func validPart(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validHostname accepts DNS names (labels of letters, digits and inner
// dashes) with an optional numeric port.
func validHostname(s string) bool {
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return false
		}
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !isLower(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
