package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsShowJobExample: docs/drivers.md shows the files of
// examples/kubernetes-job exactly as they are, the ones the in-cluster
// acceptance test applies, so the page cannot drift from what is tested.
func TestDocsShowJobExample(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "drivers.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"rbac.yaml", "job.yaml", "pipeline.hcl"} {
		b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes-job", f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "\n"+string(b)+"```\n") {
			t.Errorf("docs/drivers.md does not show examples/kubernetes-job/%s as it is; copy the file into its code block", f)
		}
	}
}
