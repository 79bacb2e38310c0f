package testserver

import (
	"net"
	"testing"
)

func TestAccPostgres(t *testing.T) {
	Acc(t, "PostgreSQL server binaries (apt-get install postgresql)")
	p := StartPostgres(t)
	var n int
	if err := p.Connect(t).QueryRow(t.Context(), "SELECT 40 + 2").Scan(&n); err != nil || n != 42 {
		t.Fatalf("query: %d, %v", n, err)
	}
}

func TestAccNATSStopStart(t *testing.T) {
	Acc(t, "nats-server (apt-get install nats-server)")
	n := StartNATS(t)
	addr := n.URL()[len("nats://"):]
	n.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("nats-server still listens after Stop")
	}
	n.Start(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("nats-server does not listen after Start: %v", err)
	}
	c.Close()
}
