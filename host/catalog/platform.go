package catalog

import (
	"fmt"
	"runtime"
	"strings"
)

// Platform is the operating system and architecture a binary is built for,
// in Go's names (GOOS, GOARCH).
type Platform struct {
	OS, Arch string
}

// CurrentPlatform is the platform flowctl runs on.
func CurrentPlatform() Platform {
	return Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// ParsePlatform parses "os_arch", e.g. "linux_amd64", the form of the
// platform directories.
func ParsePlatform(s string) (Platform, error) {
	osName, arch, ok := strings.Cut(s, "_")
	if !ok || !platformWord(osName) || !platformWord(arch) {
		return Platform{}, fmt.Errorf("invalid platform %q: want os_arch in Go's names, e.g. linux_amd64 or darwin_arm64", s)
	}
	return Platform{OS: osName, Arch: arch}, nil
}

// String returns "os_arch".
func (p Platform) String() string {
	return p.OS + "_" + p.Arch
}

func platformWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLower(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}
