package e2e

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
)

// copyExample copies examples/name into a temporary directory and returns
// that directory's parent, so the README's commands run there as written
// (with examples/ dropped from the paths) and leave the repository alone.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	root := t.TempDir()
	src := filepath.Join(examplesDir(t), name)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() && (d.Name() == ".flowctl") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".hcl") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		writeFile(t, filepath.Join(root, name, rel), string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestAccNatsBridgeExample runs examples/nats-bridge as its README does:
// seed the stream, start the receiver, run the bridge until the stream is
// drained.
func TestAccNatsBridgeExample(t *testing.T) {
	testserver.Acc(t, needsNATS)
	srv := testserver.StartNATS(t)
	root := copyExample(t, "nats-bridge")
	natsVar := "nats_url=" + srv.URL()
	apply(t, root, nil, 0, "apply", "-var", natsVar, "-var", "count=1000", "nats-bridge/seed")

	listen := testserver.FreeAddr(t)
	receiver := start(t, root, nil, "apply", "-var", "listen="+listen, "nats-bridge/receiver")
	apply(t, root, nil, 0, "apply", "-var", natsVar, "-var", "webhook_url=http://"+listen+"/events",
		"-var", "end_when_idle=3s", "nats-bridge")
	if err := receiver.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := receiver.wait(30 * time.Second); code != 130 {
		t.Fatalf("receiver: exit %d, want 130:\n%s", code, receiver.output())
	}
	even := map[string]int{}
	for i := 2; i <= 1000; i += 2 {
		even[fmt.Sprintf("%08d", i)] = 1
	}
	for _, out := range []string{"nats-bridge/out.jsonl", "nats-bridge/receiver/out.jsonl"} {
		got := fileIDs(t, filepath.Join(root, out))
		if len(got) != len(even) {
			t.Errorf("%s: %d events, want the 500 even ones", out, len(got))
		}
		for id, n := range got {
			if even[id] != 1 || n != 1 {
				t.Errorf("%s: event %s %d times", out, id, n)
			}
		}
	}
	lines := readFileLines(t, filepath.Join(root, "nats-bridge/receiver/out.jsonl"))
	if !strings.Contains(lines[0], `"size":"small"`) || !strings.Contains(lines[0], `"subject":"order.created"`) {
		t.Errorf("first received event lacks the attributes set by the cel processor: %s", lines[0])
	}
}

func readFileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// sender posts requests the way a well-behaved webhook sender does:
// retrying until it gets 200.
type sender struct {
	url, token string
	client     *http.Client
	mu         sync.Mutex
	failures   []string // what the sender saw before a 200
}

// send posts events from..to and returns after the 200.
func (s *sender) send(from, to int) error {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, `{"id":"%08d","type":"order","content_type":"application/json","data":{"seq":%d}}`+"\n", i, i)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, s.url, strings.NewReader(b.String()))
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := s.client.Do(req)
		wait := 200 * time.Millisecond
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
			if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil {
				wait = time.Duration(secs) * time.Second
			}
		}
		s.mu.Lock()
		s.failures = append(s.failures, err.Error())
		s.mu.Unlock()
		time.Sleep(wait)
	}
	return errors.New("no 200 within 2 minutes")
}

// TestAccWebhookRelayExample runs examples/webhook-relay: a sender gets 200
// only once its events are stored in JetStream; while NATS is down it gets
// errors and retries, and in the end every event is stored exactly once.
func TestAccWebhookRelayExample(t *testing.T) {
	testserver.Acc(t, needsNATS)
	srv := testserver.StartNATS(t)
	js := jetStream(t, srv)
	root := copyExample(t, "webhook-relay")
	listen := testserver.FreeAddr(t)
	relay := start(t, root, []string{"FLOWCTL_VAR_token=s3cret"}, "apply", "-var", "listen="+listen,
		"-var", "nats_url="+srv.URL(), "-var", "ack_timeout=2s", "webhook-relay")
	s := &sender{url: "http://" + listen + "/events", token: "s3cret", client: &http.Client{Timeout: 10 * time.Second}}
	eventually(t, relay, 30*time.Second, "listening", func() bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// Each 200 comes only once the request's events are in the stream.
	const per = 50
	for i := 0; i < 10; i++ {
		if err := s.send(i*per+1, (i+1)*per); err != nil {
			t.Fatal(err)
		}
		if got := streamMsgs(t, js, "WEBHOOKS"); got != uint64((i+1)*per) {
			t.Fatalf("after the 200 for request %d the stream holds %d messages, want %d", i+1, got, (i+1)*per)
		}
	}
	if len(s.failures) > 0 {
		t.Fatalf("failures while NATS was up: %v", s.failures)
	}

	// NATS goes away: senders see errors and retry; it comes back.
	srv.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 10; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.send(i*per+1, (i+1)*per)
		}()
	}
	eventually(t, relay, time.Minute, "senders seeing errors", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.failures) >= 10
	})
	time.Sleep(2 * time.Second)
	srv.Start(t)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("senders saw %d errors during the outage, e.g. %q", len(s.failures), s.failures[0])
	for _, f := range s.failures {
		if !strings.HasPrefix(f, "503 Service Unavailable") {
			t.Errorf("a sender saw %q, want only 503 answers", f)
		}
	}
	if got := streamMsgs(t, js, "WEBHOOKS"); got != 20*per {
		t.Errorf("stream holds %d messages, want exactly %d", got, 20*per)
	}
	checkIDs(t, "stream WEBHOOKS", streamIDs(t, js, "WEBHOOKS"), 20*per, 1)

	if err := relay.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := relay.wait(30 * time.Second); code != 130 {
		t.Fatalf("relay: exit %d, want 130:\n%s", code, relay.output())
	}
	if strings.Contains(relay.output(), "s3cret") {
		t.Errorf("the token was printed:\n%s", relay.output())
	}
	// The README's way to look at what was stored.
	show := start(t, root, nil, "apply", "-var", "nats_url="+srv.URL(), "webhook-relay/show")
	if code := show.wait(time.Minute); code != 0 {
		t.Fatalf("show: exit %d:\n%s", code, show.output())
	}
	if n := strings.Count(show.output(), `"type":"order"`); n != 20*per {
		t.Errorf("show printed %d events, want %d", n, 20*per)
	}
}

// TestAccWebhookRelayAsWritten runs examples/webhook-relay the way its
// README does: its http source on the default 127.0.0.1:8080, which the
// run's own control plane must leave free (issue 17: it once took that
// port), the README's request answered {"accepted":2}, and `flowctl
// status` finding the run without being told where.
func TestAccWebhookRelayAsWritten(t *testing.T) {
	testserver.Acc(t, needsNATS)
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Skipf("the README's port 127.0.0.1:8080 is taken on this machine: %v", err)
	}
	l.Close()
	srv := testserver.StartNATS(t)
	root := copyExample(t, "webhook-relay")
	// Only the NATS address differs from the README: the test's server
	// listens on a free port.
	relay := start(t, root, []string{"FLOWCTL_VAR_token=s3cret"}, "apply", "-var", "nats_url="+srv.URL(), "webhook-relay")
	var body string
	eventually(t, relay, 30*time.Second, "the README's request answered", func() bool {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/events", strings.NewReader(
			`[{"id":"order-1","type":"order","content_type":"application/json","data":{"total":12.5}},{"id":"order-2","type":"order"}]`))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = strings.TrimSpace(string(b))
		return resp.StatusCode == http.StatusOK
	})
	if body != `{"accepted":2}` {
		t.Errorf("answer %q, want {\"accepted\":2}", body)
	}
	if strings.Contains(relay.output(), "Control plane: 127.0.0.1:8080,") {
		t.Errorf("the control plane took 127.0.0.1:8080:\n%s", relay.output())
	}
	// `flowctl status` in the pipeline's directory finds the run (any
	// port) and its token through the run file.
	status := start(t, filepath.Join(root, "webhook-relay"), nil, "status")
	if code := status.wait(30 * time.Second); code != 0 || !strings.Contains(status.output(), `pipeline "webhook-relay"`) || !strings.Contains(status.output(), "source.in") {
		t.Errorf("status exited %d:\n%s", code, status.output())
	}
	if err := relay.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := relay.wait(30 * time.Second); code != 130 {
		t.Fatalf("relay: exit %d, want 130:\n%s", code, relay.output())
	}
}
