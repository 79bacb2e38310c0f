package pluginsdk

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestPermanentIsFailedPrecondition: the host tells a failure a restart
// cannot cure by its code; any other failure stays restartable (Aborted).
func TestPermanentIsFailedPrecondition(t *testing.T) {
	inst := &instance{address: "sink.out"}
	cause := errors.New("mkdir blocker: not a directory")
	err := streamError(inst, "open", fmt.Errorf("file sink: %w", Permanent(cause)))
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "sink.out: open: file sink: mkdir blocker: not a directory" {
		t.Errorf("permanent: %v", err)
	}
	if err := streamError(inst, "open", cause); status.Code(err) != codes.Aborted {
		t.Errorf("not permanent: %v", err)
	}
	if !isPermanent(fmt.Errorf("wrapped: %w", Permanent(cause))) || isPermanent(cause) || Permanent(nil) != nil {
		t.Error("isPermanent does not see through wrapping, or Permanent(nil) is not nil")
	}
}
