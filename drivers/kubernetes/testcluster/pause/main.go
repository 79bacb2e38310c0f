// Command pause is the sandbox ("pause") container of the test node: it
// holds a Pod's namespaces and waits for SIGTERM or SIGINT. The test cluster
// builds it static into a FROM scratch image, since no registry is reached
// for the usual one.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
