package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// The raw baseline is one plain gRPC stream between two processes: a
// sender streaming pre-encoded batches of the scenarios' events (the Sink
// service's messages, as the host sends them to a sink) with as many in
// flight as the host allows a sink, and a receiver that counts each batch
// and acks it, as a sink does, without decoding it. It is the cost of one
// hop with nothing else: no plugin SDK, no host, no TLS.
const rawBatch = 1000

// rawResult is what the sender prints.
type rawResult struct {
	Events  int64   `json:"events"`
	Seconds float64 `json:"seconds"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
}

func runRaw(ctx context.Context, sc scenario) (*Scenario, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "flowctl-bench-raw-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "raw.sock")

	recv := exec.CommandContext(ctx, self, "raw-recv", sock)
	var recvOut, recvErr bytes.Buffer
	recv.Stdout, recv.Stderr = &recvOut, &recvErr
	if err := recv.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = recv.Process.Kill(); _ = recv.Wait() }()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 500 {
			return nil, fmt.Errorf("raw receiver did not listen: %s", recvErr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	send := exec.CommandContext(ctx, self, "raw-send", sock, strconv.Itoa(sc.Events))
	var sendOut, sendErr bytes.Buffer
	send.Stdout, send.Stderr = &sendOut, &sendErr
	start := time.Now()
	if err := send.Run(); err != nil {
		return nil, fmt.Errorf("raw sender: %w: %s", err, sendErr.String())
	}
	wall := time.Since(start)
	_ = recv.Process.Signal(os.Interrupt)
	if err := recv.Wait(); err != nil {
		return nil, fmt.Errorf("raw receiver: %w: %s", err, recvErr.String())
	}
	var sent rawResult
	if err := json.Unmarshal(sendOut.Bytes(), &sent); err != nil {
		return nil, fmt.Errorf("raw sender printed %q: %w", sendOut.String(), err)
	}
	received, err := strconv.ParseInt(string(bytes.TrimSpace(recvOut.Bytes())), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("raw receiver printed %q", recvOut.String())
	}
	r := &Scenario{Name: sc.Name, Events: sc.Events, Target: sc.Target, Delivered: received, WallSeconds: wall.Seconds()}
	r.Lost = max(0, int64(sc.Events)-received)
	r.Duplicated = max(0, received-int64(sc.Events))
	r.Seconds = sent.Seconds
	r.EventsPerSec = float64(sc.Events) / sent.Seconds
	r.MBPerSec = r.EventsPerSec * float64(wireSize()) / 1e6
	r.P50ms, r.P99ms = sent.P50ms, sent.P99ms
	r.setUsage([]procUsage{processUsage("sender", send.ProcessState), processUsage("receiver", recv.ProcessState)})
	return r, nil
}

func rawMain(mode string, args []string) int {
	var err error
	switch {
	case mode == "raw-recv" && len(args) == 1:
		err = rawReceive(args[0])
	case mode == "raw-send" && len(args) == 2:
		var n int
		n, err = strconv.Atoi(args[1])
		if err == nil {
			err = rawSend(args[0], n)
		}
	default:
		err = fmt.Errorf("usage: bench raw-recv SOCKET | raw-send SOCKET EVENTS")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type rawSink struct {
	flowctlv1.UnimplementedSinkServer
	events int64
}

func (s *rawSink) Stream(stream flowctlv1.Sink_StreamServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.events += int64(req.GetBatch().GetCount())
		if err := stream.Send(&flowctlv1.SinkAck{Seq: req.GetSeq(), Ok: true}); err != nil {
			return err
		}
	}
}

// rawReceive serves until interrupted, then prints the events received.
func rawReceive(sock string) error {
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	sink := &rawSink{}
	flowctlv1.RegisterSinkServer(srv, sink)
	stop := make(chan os.Signal, 1)
	signalNotify(stop)
	go func() { <-stop; srv.GracefulStop() }()
	if err := srv.Serve(lis); err != nil {
		return err
	}
	fmt.Println(sink.events)
	return nil
}

// rawSend streams n events in batches, keeping as many batches in flight as
// the host's router allows a sink, and prints a rawResult.
func rawSend(sock string, n int) error {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := flowctlv1.NewSinkClient(conn).Stream(ctx)
	if err != nil {
		return err
	}
	// Distinct batches, encoded once: the baseline measures the hop, not
	// event generation.
	const distinct = 16
	batches := make([][]byte, distinct)
	for b := range batches {
		events := make([]pluginsdk.Event, rawBatch)
		for i := range events {
			events[i] = benchEvent(uint64(b*rawBatch + i + 1))
		}
		batches[b] = sdktest.AppendEvents(nil, events)
	}
	total := (n + rawBatch - 1) / rawBatch
	window := router.DefaultMaxInFlight
	// The ack's goroutine reads what the sender wrote before it sent the
	// batch; the network is no happens-before edge, so the times are atomic.
	sentAt := make([]atomic.Int64, total+1)
	rtts := make([]time.Duration, 0, total)
	acked := make(chan error, 1)
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	var events int64
	go func() {
		for range total {
			ack, err := stream.Recv()
			if err != nil {
				acked <- err
				return
			}
			rtts = append(rtts, time.Duration(time.Now().UnixNano()-sentAt[ack.GetSeq()].Load()))
			credits <- struct{}{}
		}
		acked <- nil
	}()
	start := time.Now()
	for seq := 1; seq <= total; seq++ {
		<-credits
		count := min(rawBatch, n-(seq-1)*rawBatch)
		sentAt[seq].Store(time.Now().UnixNano())
		msg := &flowctlv1.SinkRequest{Seq: uint64(seq), Batch: &flowctlv1.Batch{Count: uint32(count), Events: batches[seq%distinct]}}
		if err := stream.Send(msg); err != nil {
			return err
		}
		events += int64(count)
	}
	if err := <-acked; err != nil {
		return err
	}
	elapsed := time.Since(start)
	_ = stream.CloseSend()
	slices.Sort(rtts)
	q := func(p float64) float64 { return float64(rtts[int(p*float64(len(rtts)-1))]) / 1e6 }
	return json.NewEncoder(os.Stdout).Encode(rawResult{Events: events, Seconds: elapsed.Seconds(), P50ms: q(0.5), P99ms: q(0.99)})
}
