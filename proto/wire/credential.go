package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// A plugin credential is the bearer token the host gives each plugin it
// starts (in EnvToken, instead of any token of the run): it names one
// component and is signed with a key that only the run's control plane
// holds, so it lets that plugin register, heartbeat and deregister itself
// and nothing else. Its form is
//
//	flowctl-plugin.v1.<base64url(component id)>.<base64url(HMAC-SHA256)>
//
// where the MAC covers a domain-separating prefix and the id. The key is
// random per run and never leaves the host, so a credential dies with its
// run.
const credentialPrefix = "flowctl-plugin.v1."

// credentialDomain keeps the MAC of a plugin credential apart from any
// other use of the same key.
const credentialDomain = "flowctl plugin credential v1\x00"

// PluginCredential returns the credential of component id under key.
func PluginCredential(key []byte, id string) string {
	enc := base64.RawURLEncoding
	return credentialPrefix + enc.EncodeToString([]byte(id)) + "." + enc.EncodeToString(credentialMAC(key, id))
}

// IsPluginCredential reports whether token has the form of a plugin
// credential (whether or not its signature is valid).
func IsPluginCredential(token string) bool { return strings.HasPrefix(token, credentialPrefix) }

// VerifyPluginCredential returns the component a credential names when key
// signed it. The comparison is constant-time.
func VerifyPluginCredential(key []byte, token string) (id string, ok bool) {
	rest, found := strings.CutPrefix(token, credentialPrefix)
	if !found || len(key) == 0 {
		return "", false
	}
	idPart, macPart, found := strings.Cut(rest, ".")
	if !found {
		return "", false
	}
	enc := base64.RawURLEncoding
	rawID, err := enc.DecodeString(idPart)
	if err != nil {
		return "", false
	}
	mac, err := enc.DecodeString(macPart)
	if err != nil {
		return "", false
	}
	if !hmac.Equal(mac, credentialMAC(key, string(rawID))) {
		return "", false
	}
	return string(rawID), true
}

func credentialMAC(key []byte, id string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(credentialDomain))
	m.Write([]byte(id))
	return m.Sum(nil)
}
