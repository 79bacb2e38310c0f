package hcl

import "github.com/agext/levenshtein"

// NameSuggestion returns the candidate closest to given when it is close
// enough to be a likely typo, or "" when none is. Diagnostics use it for
// "Did you mean ...?", the same way HCL does for unknown arguments (and
// with the same edit distance, from the library HCL itself uses).
func NameSuggestion(given string, candidates []string) string {
	best, bestDist := "", 3 // HCL's own threshold: at most two edits
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
