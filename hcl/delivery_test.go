package hcl

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// TestParseDelivery reads every delivery setting from a valid file: the
// pipeline's defaults, a component's own restart block replacing them whole,
// each way on_error is decided, and the host-owned names kept out of the
// plugin's body.
func TestParseDelivery(t *testing.T) {
	const path = "testdata/delivery.hcl"
	cfg, diags := ParseFile(path)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%s", FormatDiagnostics(cfg.Files, diags))
	}

	if got := cfg.Pipeline.ShutdownTimeout; got != 90*time.Second {
		t.Errorf("ShutdownTimeout = %s, want 1m30s", got)
	}
	// The pipeline block comes after the sources that take its default.
	pipelineRestart := restartAt{Restart{Attempts: 5, Delay: 2 * time.Second, MaxDelay: DefaultRestartMaxDelay}, "testdata/delivery.hcl:11:3"}
	checkRestart(t, "pipeline", cfg.Pipeline.Restart, pipelineRestart)

	retryDefaults := Backoff{Attempts: DefaultRetryAttempts, Delay: DefaultRetryDelay, MaxDelay: DefaultRetryMaxDelay}
	failed := &inputAt{"sink.failed", ""}
	tests := []struct {
		addr    string
		restart restartAt
		onError *onErrorAt
	}{
		{
			addr:    "source.ticks",
			restart: restartAt{Restart{Attempts: 0, Delay: DefaultRestartDelay, MaxDelay: DefaultRestartMaxDelay}, "testdata/delivery.hcl:2:3"},
		},
		{addr: "source.tocks", restart: pipelineRestart},
		{
			addr:    "processor.tag",
			restart: pipelineRestart,
			onError: &onErrorAt{
				mode: ErrorRetry, retry: Backoff{Attempts: 10, Delay: 250 * time.Millisecond, MaxDelay: 10 * time.Second},
				deadLetter: &inputAt{"sink.failed", "testdata/delivery.hcl:25:17"}, modeAt: "testdata/delivery.hcl:19:14",
			},
		},
		{
			// A left-out max_delay is never shorter than delay.
			addr:    "processor.plain",
			restart: restartAt{Restart{Attempts: DefaultRestartAttempts, Delay: time.Minute, MaxDelay: time.Minute}, "testdata/delivery.hcl:32:3"},
			onError: &onErrorAt{mode: ErrorRetry, retry: retryDefaults, modeAt: "testdata/delivery.hcl:31:14"},
		},
		{
			// dead_letter without on_error means on_error = "dead_letter".
			addr:    "sink.out",
			restart: pipelineRestart,
			onError: &onErrorAt{mode: ErrorDeadLetter, retry: retryDefaults, deadLetter: failed},
		},
		{
			addr:    "sink.failed",
			restart: pipelineRestart,
			onError: &onErrorAt{mode: ErrorFail, retry: retryDefaults, modeAt: "testdata/delivery.hcl:44:14"},
		},
	}
	if len(cfg.Components) != len(tests) {
		t.Fatalf("got %d components, want %d", len(cfg.Components), len(tests))
	}
	for i, tt := range tests {
		c := cfg.Components[i]
		t.Run(tt.addr, func(t *testing.T) {
			if c.Address.String() != tt.addr {
				t.Fatalf("component %d is %s", i, c.Address)
			}
			checkRestart(t, "Restart", c.Restart, tt.restart)
			checkOnError(t, c.OnError, tt.onError)
		})
	}

	// None of the host-owned names reaches the plugin.
	tag := cfg.Component(Address{Kind: KindProcessor, Name: "tag"})
	content, diags := tag.Body.Content(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "set", Required: true}}})
	if diags.HasErrors() {
		t.Errorf("the plugin body holds more than set:\n%s", FormatDiagnostics(cfg.Files, diags))
	}
	if _, ok := content.Attributes["set"]; !ok {
		t.Error("set is missing from the plugin body")
	}
}

type restartAt struct {
	Restart
	at string // where DeclRange starts; "" for the zero Range
}

type inputAt struct {
	addr string
	at   string // "" when the range is not checked
}

type onErrorAt struct {
	mode       ErrorMode
	retry      Backoff
	deadLetter *inputAt
	modeAt     string // "" for the zero Range
}

func checkRestart(t *testing.T, what string, got Restart, want restartAt) {
	t.Helper()
	if got.Attempts != want.Attempts || got.Delay != want.Delay || got.MaxDelay != want.MaxDelay {
		t.Errorf("%s = %d, %s, %s; want %d, %s, %s", what,
			got.Attempts, got.Delay, got.MaxDelay, want.Attempts, want.Delay, want.MaxDelay)
	}
	checkRange(t, what+" DeclRange", got.DeclRange, want.at)
}

func checkOnError(t *testing.T, got *OnError, want *onErrorAt) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("OnError = %+v, want nil", *got)
	case want == nil:
		return
	case got == nil:
		t.Fatal("OnError is nil")
	}
	if got.Mode != want.mode {
		t.Errorf("Mode = %q, want %q", got.Mode, want.mode)
	}
	if got.Retry != want.retry {
		t.Errorf("Retry = %+v, want %+v", got.Retry, want.retry)
	}
	checkRange(t, "ModeRange", got.ModeRange, want.modeAt)
	switch {
	case want.deadLetter == nil && got.DeadLetter != nil:
		t.Errorf("DeadLetter = %s, want nil", got.DeadLetter.Address)
	case want.deadLetter != nil && got.DeadLetter == nil:
		t.Errorf("DeadLetter is nil, want %s", want.deadLetter.addr)
	case want.deadLetter != nil:
		if got.DeadLetter.Address.String() != want.deadLetter.addr {
			t.Errorf("DeadLetter = %s, want %s", got.DeadLetter.Address, want.deadLetter.addr)
		}
		if want.deadLetter.at != "" {
			checkRange(t, "DeadLetter.Range", got.DeadLetter.Range, want.deadLetter.at)
		}
	}
}

func checkRange(t *testing.T, what string, got hcl.Range, want string) {
	t.Helper()
	switch {
	case want == "" && got != (hcl.Range{}):
		t.Errorf("%s = %s, want the zero Range", what, posString(got))
	case want != "" && posString(got) != want:
		t.Errorf("%s = %s, want %s", what, posString(got), want)
	}
}

// TestParseDeliveryDefaults checks the defaults a file gets when it says
// nothing about delivery, with and without a pipeline block.
func TestParseDeliveryDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"no pipeline block", ""},
		{"empty pipeline block", "pipeline \"p\" {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src + `
source "generator" "s" {}
processor "transform" "p" { inputs = [source.s] }
sink "stdout" "out" { inputs = [processor.p] }
`
			cfg, diags := Parse("p.hcl", []byte(src))
			if diags.HasErrors() {
				t.Fatal(FormatDiagnostics(cfg.Files, diags))
			}
			if cfg.Pipeline.ShutdownTimeout != DefaultShutdownTimeout {
				t.Errorf("ShutdownTimeout = %s, want %s", cfg.Pipeline.ShutdownTimeout, DefaultShutdownTimeout)
			}
			builtIn := restartAt{Restart{Attempts: 3, Delay: time.Second, MaxDelay: 30 * time.Second}, ""}
			checkRestart(t, "pipeline Restart", cfg.Pipeline.Restart, builtIn)
			fail := &onErrorAt{mode: ErrorFail, retry: Backoff{Attempts: 3, Delay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}}
			for _, c := range cfg.Components {
				checkRestart(t, c.Address.String()+" Restart", c.Restart, builtIn)
				if c.Address.Kind == KindSource {
					checkOnError(t, c.OnError, nil)
				} else {
					checkOnError(t, c.OnError, fail)
				}
			}
		})
	}
}

// TestParseDeliveryDuplicatePipeline checks that a second pipeline block,
// which is an error, does not change the first one's settings.
func TestParseDeliveryDuplicatePipeline(t *testing.T) {
	src := `
pipeline "a" { shutdown_timeout = "5s" }
pipeline "b" {
  shutdown_timeout = "1s"
  restart { attempts = 9 }
}
source "generator" "s" {}
`
	cfg, diags := Parse("p.hcl", []byte(src))
	if len(diags) != 1 || diags[0].Summary != "Duplicate pipeline block" {
		t.Fatalf("want only the duplicate pipeline block, got:\n%s", FormatDiagnostics(cfg.Files, diags))
	}
	if cfg.Pipeline.ShutdownTimeout != 5*time.Second || cfg.Pipeline.Restart.Attempts != DefaultRestartAttempts {
		t.Errorf("pipeline = %s, %d restarts; want the first block's 5s and the default %d",
			cfg.Pipeline.ShutdownTimeout, cfg.Pipeline.Restart.Attempts, DefaultRestartAttempts)
	}
}

func TestParseErrorMode(t *testing.T) {
	for _, m := range []ErrorMode{ErrorFail, ErrorRetry, ErrorDeadLetter} {
		got, err := ParseErrorMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseErrorMode(%q) = %q, %v", m, got, err)
		}
	}
	_, err := ParseErrorMode("drop")
	if !errors.Is(err, ErrInvalidErrorMode) {
		t.Errorf("ParseErrorMode(drop) error = %v, want ErrInvalidErrorMode", err)
	}
	if want := `invalid on_error mode "drop": want "fail", "retry" or "dead_letter"`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
