package pluginsdk

import "testing"

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		host string
		ours []int
		want int
	}{
		{"1", []int{1}, 1},
		{"1,2", []int{1, 2}, 2},
		{"2, 1", []int{1}, 1},
		{"1", []int{1, 2}, 1},
		{"7", []int{1, 2}, 2}, // nothing shared: ours, which the host refuses
		{"", []int{1}, 1},
	}
	for _, tt := range tests {
		if got := negotiateVersion(tt.host, tt.ours); got != tt.want {
			t.Errorf("negotiateVersion(%q, %v) = %d, want %d", tt.host, tt.ours, got, tt.want)
		}
	}
}
