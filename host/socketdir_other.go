//go:build !unix

package host

// processExists cannot tell here, so every directory is kept.
func processExists(int) bool { return true }
