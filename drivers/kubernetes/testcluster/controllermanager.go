package testcluster

import (
	"context"
	"time"
)

// StartControllerManager starts kube-controller-manager with the
// controllers flowctl running in the cluster as a Job relies on: the Job
// controller (it starts the Job's Pods and replaces a failed one), the
// garbage collector (it deletes objects whose owner is gone: a deleted
// flowctl Pod's plugin Pods) and the root CA publisher (the
// kube-root-ca.crt ConfigMap that projected ServiceAccount tokens take
// ca.crt from; without it such a Pod never starts). It returns once that
// ConfigMap exists. The ServiceAccount and node lifecycle controllers stay
// off: the tests do their work themselves, as they do without it.
func (c *Cluster) StartControllerManager(ctx context.Context) error {
	p, err := c.start("kube-controller-manager",
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--controllers=job-controller,garbage-collector-controller,root-ca-certificate-publisher-controller",
		"--root-ca-file="+c.CAFile,
		"--bind-address=127.0.0.1", "--secure-port=0",
		"--v=2") // the garbage collector's deletions, for the tests to tell
	if err != nil {
		return err
	}
	return waitFor(90*time.Second, "kube-controller-manager (kube-root-ca.crt published)", func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_, err := c.kubectlGet(ctx, "/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
		return err
	}, p)
}
