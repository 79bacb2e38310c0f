package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// probeResult is what one call to the control plane got: its gRPC code
// name and message.
type probeResult struct {
	Call    string `json:"call"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// probe tries, with token, what a component must not do to victim on the
// control plane at endpoint, then, when self is set, what it may do to
// itself. It is the security tests' hostile client: as a plugin the host
// started (mode probe) and as another user (`stamp probe`).
func probe(endpoint, token, self, victim string) []probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient("passthrough:///"+endpoint, opts...)
	if err != nil {
		return []probeResult{{Call: "dial", Code: "Error", Message: err.Error()}}
	}
	defer conn.Close()
	c := flowctlv1.NewControlPlaneClient(conn)
	var out []probeResult
	record := func(call string, err error) {
		st := status.Convert(err)
		out = append(out, probeResult{Call: call, Code: st.Code().String(), Message: st.Message()})
	}
	_, err = c.ListServices(ctx, &flowctlv1.ListServicesRequest{})
	record("list", err)
	if w, err := c.WatchServices(ctx, &flowctlv1.WatchServicesRequest{}); err != nil {
		record("watch", err)
	} else {
		_, err = w.Recv()
		record("watch", err)
	}
	_, err = c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: victim, Status: flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_FAILING, Message: "forged"})
	record("heartbeat other", err)
	_, err = c.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: victim, Message: "forged"})
	record("deregister other", err)
	_, err = c.Register(ctx, &flowctlv1.RegisterRequest{Id: victim, Plugin: "forged"})
	record("register other", err)
	_, err = c.Register(ctx, &flowctlv1.RegisterRequest{Id: "forged.new", Plugin: "forged"})
	record("register new", err)
	if self == "" {
		return out
	}
	_, err = c.Register(ctx, &flowctlv1.RegisterRequest{Id: self, Plugin: "stamp", Metadata: map[string]string{"probe": "yes"}})
	record("register self", err)
	_, err = c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: self, Metrics: map[string]float64{"probe": 1}})
	record("heartbeat self", err)
	_, err = c.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: self, Message: "probe done"})
	record("deregister self", err)
	return out
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// probeAsPlugin runs the probe with what the host gave this plugin, and
// writes the results to probe.json in its working directory (the
// pipeline's).
func probeAsPlugin(victim string) {
	res := probe(os.Getenv(wire.EnvRunEndpoint), os.Getenv(wire.EnvToken), os.Getenv(wire.EnvComponentID), victim)
	b, _ := json.Marshal(map[string]any{
		"endpoint": os.Getenv(wire.EnvRunEndpoint), "component": os.Getenv(wire.EnvComponentID),
		"credential_form": wire.IsPluginCredential(os.Getenv(wire.EnvToken)), "results": res,
	})
	if err := os.WriteFile("probe.json.tmp", b, 0o644); err == nil {
		_ = os.Rename("probe.json.tmp", "probe.json")
	}
}

// probeCommand is `stamp probe ENDPOINT VICTIM`: the probe with
// FLOWCTL_TOKEN, if any, results as JSON on stdout.
func probeCommand(args []string) {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: stamp probe ENDPOINT VICTIM")
		os.Exit(2)
	}
	b, _ := json.Marshal(probe(args[0], os.Getenv(wire.EnvToken), "", args[1]))
	fmt.Println(string(b))
	os.Exit(0)
}
