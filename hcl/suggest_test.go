package hcl

import "testing"

func TestNameSuggestion(t *testing.T) {
	candidates := []string{"ticks", "tag", "out", "größe"}
	for given, want := range map[string]string{
		"tick":   "ticks", // one edit
		"tcks":   "ticks",
		"otu":    "out",   // a swap is two edits
		"grösse": "größe", // counted in runes, not bytes
		"tagger": "",      // three edits: no suggestion
		"zzz":    "",
	} {
		if got := NameSuggestion(given, candidates); got != want {
			t.Errorf("NameSuggestion(%q) = %q, want %q", given, got, want)
		}
	}
}
