// Package file is the flowctl "file" plugin: a sink that writes events to a
// file as JSON Lines, and a source that reads such a file back.
//
// The line format is the one documented in plugins/internal/jsonl: one JSON
// object per event with id, type, time, key (base64), attributes,
// content_type and the payload as "data" (embedded JSON or text) or
// "data_base64". Whatever the sink writes, the source reads back with every
// field intact.
//
// Relative paths are resolved against the plugin process's working
// directory; the flowctl host starts plugins in the pipeline file's
// directory, so a path is relative to the pipeline file.
//
// Sink: Write returns, and the host acks the batch, only after the whole
// batch is written and, with fsync (the default), the file was synced to
// stable storage. append defaults to true so that a pipeline resumed from a
// checkpoint adds to what an earlier run wrote instead of destroying it;
// set append = false to truncate the file when the sink opens. A write that
// fails is nacked with the operating system's error and the partial line is
// cut off again (best effort), so a redelivered batch does not follow a
// corrupt line. Missing parent directories are created.
//
// Source: the position of an event is the byte offset just after its line
// (8 bytes, big-endian), so resuming seeks straight to the next line. Blank
// lines are skipped; any other line that is not an event object stops the
// source with an error naming path:line. The source ends at the end of the
// file; it does not follow a file that is still growing.
package file

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the file plugin at the given version: the "file" source and
// the "file" sink.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "file",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSource("file",
				"Reads events from a JSON Lines file written by the file sink; resumes at a byte offset.",
				sourceSpec(), newSource),
			pluginsdk.NewSink("file",
				"Writes events to a file as JSON Lines, one object per event; acks once written and synced.",
				sinkSpec(), newSink),
		},
	}
}

// Offset encodes a byte offset as a file source position.
func Offset(off int64) pluginsdk.Position {
	return binary.BigEndian.AppendUint64(make(pluginsdk.Position, 0, 8), uint64(off))
}

// ParseOffset decodes a file source position.
func ParseOffset(p pluginsdk.Position) (int64, error) {
	if len(p) != 8 || binary.BigEndian.Uint64(p) > 1<<62 {
		return 0, fmt.Errorf("position %q is not a file position (an 8-byte byte offset)", hex.EncodeToString(p))
	}
	return int64(binary.BigEndian.Uint64(p)), nil
}
