package pluginsdk

import (
	"os/exec"
	"strings"
	"testing"
)

// The SDK is what third parties build on: it must not pull in the host.
func TestSDKDoesNotImportHost(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/flowctl/flowctl/pluginsdk/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"host", "drivers", "hcl", "cmd"} {
			if strings.HasPrefix(pkg, "github.com/flowctl/flowctl/"+banned) {
				t.Errorf("pluginsdk depends on %s", pkg)
			}
		}
	}
}
