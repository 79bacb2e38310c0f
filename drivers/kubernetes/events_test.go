package kubernetes

import (
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Events of the same second come out in the order the API server stored
// them: the scheduler's Scheduled (a precise event time) before the
// kubelet's errors (whole seconds), whatever order List returned.
func TestEventOrder(t *testing.T) {
	sec := time.Date(2026, 1, 1, 10, 0, 5, 0, time.UTC)
	events := []corev1.Event{
		{Reason: "Failed", LastTimestamp: metav1.NewTime(sec), ObjectMeta: metav1.ObjectMeta{ResourceVersion: "12"}},
		{Reason: "ErrImageNeverPull", LastTimestamp: metav1.NewTime(sec), ObjectMeta: metav1.ObjectMeta{ResourceVersion: "11"}},
		{Reason: "Scheduled", EventTime: metav1.NewMicroTime(sec.Add(700 * time.Millisecond)), ObjectMeta: metav1.ObjectMeta{ResourceVersion: "10"}},
		{Reason: "Earlier", LastTimestamp: metav1.NewTime(sec.Add(-time.Second)), ObjectMeta: metav1.ObjectMeta{ResourceVersion: "13"}},
	}
	sort.SliceStable(events, func(i, j int) bool { return eventBefore(events[i], events[j]) })
	var got []string
	for _, e := range events {
		got = append(got, e.Reason)
	}
	want := []string{"Earlier", "Scheduled", "ErrImageNeverPull", "Failed"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
