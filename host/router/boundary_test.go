package router

import (
	"os/exec"
	"strings"
	"testing"
)

// The router speaks the protocol, not the pipeline language: it must not
// import hcl (the kinds and error modes it shares with it are the
// protocol's, in proto/wire).
func TestRouterDoesNotImportLanguage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/flowctl/flowctl/host/router").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/flowctl/flowctl/hcl") {
			t.Errorf("host/router depends on %s", pkg)
		}
	}
}
