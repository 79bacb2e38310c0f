package catalog

import (
	"testing"
)

func TestParseAddress(t *testing.T) {
	valid := []struct {
		in   string
		want Address
	}{
		{"acme/upper", Address{DefaultHostname, "acme", "upper"}},
		{"example.com/acme/kafka", Address{"example.com", "acme", "kafka"}},
		{"Example.COM/acme/kafka", Address{"example.com", "acme", "kafka"}},
		{"localhost:8080/my_team/s3-sink2", Address{"localhost:8080", "my_team", "s3-sink2"}},
		{"a-b.example/0ps/x", Address{"a-b.example", "0ps", "x"}},
		{"flowctl/generator", Address{DefaultHostname, "flowctl", "generator"}},
	}
	for _, tc := range valid {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAddress(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	const form = `: want [hostname/]namespace/name, e.g. example.com/acme/kafka`
	invalid := []struct{ in, want string }{
		{"x", `invalid plugin address "x"` + form},
		{"", `invalid plugin address ""` + form},
		{"a/b/c/d", `invalid plugin address "a/b/c/d"` + form},
		{"acme/", `invalid plugin address "acme/"` + form + `; name "" may hold only lower-case letters, digits, '-' and '_', and must start with a letter`},
		{"/upper", `invalid plugin address "/upper"` + form + `; namespace "" may hold only lower-case letters, digits, '-' and '_'`},
		{"acme/Upper", `invalid plugin address "acme/Upper"` + form + `; name "Upper" may hold only lower-case letters, digits, '-' and '_', and must start with a letter`},
		{"acme/1upper", `invalid plugin address "acme/1upper"` + form + `; name "1upper" may hold only lower-case letters, digits, '-' and '_', and must start with a letter`},
		{"Acme/upper", `invalid plugin address "Acme/upper"` + form + `; namespace "Acme" may hold only lower-case letters, digits, '-' and '_'`},
		{"acme/up.per", `invalid plugin address "acme/up.per"` + form + `; name "up.per" may hold only lower-case letters, digits, '-' and '_', and must start with a letter`},
		{"exa_mple.com/acme/upper", `invalid plugin address "exa_mple.com/acme/upper"` + form + `; hostname "exa_mple.com" is not a DNS name (letters, digits, dots and dashes, optionally :port)`},
	}
	for _, tc := range invalid {
		t.Run("invalid "+tc.in, func(t *testing.T) {
			_, err := ParseAddress(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}

	for _, bad := range []string{"-a.com/x/y", "a..com/x/y", "a.com:/x/y", "a.com:0/x/y", "a.com:99999/x/y", "a.com:80x/x/y", "a.com-/x/y"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) succeeded, want an error", bad)
		}
	}
}

func TestAddressString(t *testing.T) {
	a, err := ParseAddress("acme/upper")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.String(); got != "plugins.flowctl.dev/acme/upper" {
		t.Errorf("String() = %q", got)
	}
	for in, want := range map[string]bool{
		"flowctl/file":                     true,
		"plugins.flowctl.dev/flowctl/file": true,
		"example.com/flowctl/file":         false,
		"acme/file":                        false,
	} {
		a, err := ParseAddress(in)
		if err != nil {
			t.Fatal(err)
		}
		if a.IsBuiltin() != want {
			t.Errorf("%s.IsBuiltin() = %v, want %v", in, !want, want)
		}
	}
}

func TestParsePlatform(t *testing.T) {
	p, err := ParsePlatform("linux_amd64")
	if err != nil || p != linuxAMD || p.String() != "linux_amd64" {
		t.Fatalf("ParsePlatform(linux_amd64) = %v, %v", p, err)
	}
	for _, bad := range []string{"", "linux", "linux-amd64", "_amd64", "linux_", "Linux_amd64", "linux_amd64_v2"} {
		_, err := ParsePlatform(bad)
		want := `invalid platform "` + bad + `": want os_arch in Go's names, e.g. linux_amd64 or darwin_arm64`
		if err == nil || err.Error() != want {
			t.Errorf("ParsePlatform(%q) error = %v, want %s", bad, err, want)
		}
	}
	if CurrentPlatform().String() == "_" {
		t.Error("CurrentPlatform is empty")
	}
}
