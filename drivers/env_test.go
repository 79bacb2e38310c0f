package drivers

import (
	"slices"
	"testing"
)

func TestPluginEnv(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp/x", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"FLOWCTL_LOG_LEVEL=debug", "FLOWCTL_CPUPROFILE_DIR=/prof",
		"FLOWCTL_VAR_token=secret", "FLOWCTL_TOKEN=cp", "FLOWCTL_ENDPOINT=127.0.0.1:8080",
		"AWS_SECRET_ACCESS_KEY=k", "PATHX=1", "malformed",
	}
	got := PluginEnv(environ, []string{"MODE=x", "PATH=/opt/bin"})
	want := []string{
		"PATH=/usr/bin", "HOME=/root", "TMPDIR=/tmp/x", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC",
		"FLOWCTL_LOG_LEVEL=debug", "FLOWCTL_CPUPROFILE_DIR=/prof",
		"MODE=x", "PATH=/opt/bin", // extra comes last, so it wins (exec keeps the last of a name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("PluginEnv =\n  %q\nwant\n  %q", got, want)
	}
}
