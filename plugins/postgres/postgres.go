// Package postgres is the flowctl "postgres" plugin: a sink that writes
// events into a PostgreSQL table, one row per event id.
//
// Table: with create_table (the default) the sink creates the table when it
// opens, if it does not exist:
//
//	id           text PRIMARY KEY   -- the event id
//	type         text NOT NULL
//	time         timestamptz        -- NULL when the event has none
//	key          bytea
//	attributes   jsonb NOT NULL     -- {"name": "value", ...}
//	content_type text
//	data_json    jsonb              -- the payload, when it is JSON
//	data         bytea              -- the payload, when it is anything else
//
// An existing table must have these columns (more are fine) and a unique
// index on id; the sink checks the columns when it opens.
//
// Writes: each batch is copied (COPY) into a temporary table and upserted
// into the target with INSERT ... ON CONFLICT (id) DO UPDATE in one
// transaction; Write returns, and the host acks the batch, only after
// COMMIT. A batch delivered again after a crash (at-least-once) therefore
// overwrites the rows it wrote before: exactly one row per event id. Within
// one batch the last event with an id wins. Events without an id are
// refused (the batch is nacked), because they cannot be upserted.
//
// The connection string (a URL or key=value DSN, as libpq takes) is a
// sensitive attribute: pass it from a sensitive variable. It is checked when
// the pipeline is validated, without connecting.
package postgres

import "github.com/flowctl/flowctl/pluginsdk"

// Plugin returns the postgres plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "postgres",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSink("postgres",
				"Upserts events into a PostgreSQL table, one row per event id; acks each batch after COMMIT.",
				sinkSpec(), newSink),
		},
	}
}
