// Package dataplane is the plugin's side of the direct data plane (plugin
// protocol versions 2 and 3, proto/flowctl/v1/dataplane.proto); host/plane
// is the host's. pluginsdk runs it inside every Go plugin, so a component
// changes nothing to take part.
//
// Run serves one component: it reads the host's NodeOpen from the Node.Run
// stream, receives batches from upstream plugins through a Mux (the Edge
// service, one inbox per node), hands them to the component's handler, and
// sends what comes out to each output with a sender per peer, reconnecting
// to the address of the latest PeerUpdate when a peer was restarted. The
// plugin owns the bytes; the host owns the decisions: the runtime reports
// every batch a source makes, the ticket shares it returns, the events it
// failed and its counters, and does what the host answers (credits, acks,
// rewinds, decisions on failed events, epochs that made batches void,
// finish).
//
// Outputs (version 3): peers with the same group are the instances of one
// parallel component and share one output. A batch goes whole to whichever
// instance's sender takes it first (one queue for the group), or, for
// PARTITION_KEY, is split by the FNV-1a hash of each event's key without
// decoding the events, each part carrying its slice of the share.
//
// A source keeps every batch it sent until its ticket is released and
// sends them again on a rewind; a processor or sink keeps nothing beyond
// the batches it holds, which the host makes its sources send again when it
// fails.
package dataplane
