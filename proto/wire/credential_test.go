package wire

import (
	"strings"
	"testing"
)

func TestPluginCredential(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	cred := PluginCredential(key, "source.ticks")
	if !IsPluginCredential(cred) {
		t.Fatalf("%q is not recognised as a plugin credential", cred)
	}
	if id, ok := VerifyPluginCredential(key, cred); !ok || id != "source.ticks" {
		t.Fatalf("Verify(own credential) = %q, %v; want source.ticks, true", id, ok)
	}
	other := PluginCredential(key, "sink.out")
	forged := cred[:strings.LastIndex(cred, ".")] + other[strings.LastIndex(other, "."):]
	tests := map[string]struct {
		key   []byte
		token string
	}{
		"another key":              {[]byte("another key of thirty-two bytes!"), cred},
		"no key":                   {nil, cred},
		"id swapped, MAC kept":     {key, forged},
		"not a credential":         {key, "s3cret"},
		"truncated":                {key, cred[:len(cred)-4]},
		"prefix only":              {key, "flowctl-plugin.v1."},
		"id without a MAC":         {key, "flowctl-plugin.v1.c291cmNl"},
		"MAC is not base64url":     {key, "flowctl-plugin.v1.c291cmNl.!!!"},
		"credential of another id": {key, strings.Replace(cred, "c291cmNlLnRpY2tz", "c2luay5vdXQ", 1)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if id, ok := VerifyPluginCredential(tt.key, tt.token); ok {
				t.Errorf("Verify(%q) = %q, true; want it refused", tt.token, id)
			}
		})
	}
}
