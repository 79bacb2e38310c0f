package pluginsdk

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A plugin written against today's interfaces, embedding the Unimplemented
// types, must still build when a later SDK adds a lifecycle method to
// Source, Processor and Sink (with its default on the Unimplemented type).
// The test builds testdata/compat/embeds against such an SDK, made by
// overlaying component.go with a copy that has the new method; the plugin
// that does not embed (testdata/compat/bare) must fail to build, which
// shows the overlay took effect.
func TestForwardCompatible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins")
	}
	src, err := os.ReadFile("component.go")
	if err != nil {
		t.Fatal(err)
	}
	next := string(src)
	for _, kind := range []string{"Source", "Processor", "Sink"} {
		iface := "type " + kind + " interface {"
		if !strings.Contains(next, iface) {
			t.Fatalf("component.go has no %q", iface)
		}
		next = strings.Replace(next, iface, iface+"\n\tFlush(ctx context.Context) error", 1)
		next += "\nfunc (Unimplemented" + kind + ") Flush(context.Context) error { return nil }\n"
	}
	dir := t.TempDir()
	modified := filepath.Join(dir, "component.go")
	if err := os.WriteFile(modified, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("component.go")
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{abs: modified}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	build := func(pkg string) ([]byte, error) {
		cmd := exec.Command("go", "build", "-overlay="+overlayFile, "-o", filepath.Join(dir, filepath.Base(pkg)), pkg)
		return cmd.CombinedOutput()
	}
	if out, err := build("./testdata/compat/embeds"); err != nil {
		t.Errorf("a plugin embedding the Unimplemented types broke when Source gained a method: %v\n%s", err, out)
	}
	out, err := build("./testdata/compat/bare")
	if err == nil || !strings.Contains(string(out), "missing method Flush") {
		t.Errorf("the control plugin built against the changed SDK (the overlay did not apply?): %v\n%s", err, out)
	}
}
