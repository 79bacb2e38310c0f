// Package e2e holds the connectors' end-to-end acceptance tests: a real
// flowctl binary (built once by TestMain) runs pipelines and the examples
// against a real PostgreSQL server and nats-server (started by
// plugins/internal/testserver), while the tests kill plugin processes with
// SIGKILL, take the servers away and count rows and messages. They run
// only with FLOWCTL_ACC=1.
package e2e
