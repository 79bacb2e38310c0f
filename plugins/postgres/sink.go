package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

func sinkSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("connection", "PostgreSQL connection string (postgres://user:password@host:5432/db or key=value pairs). Sensitive: set it from a sensitive variable.").Required().Sensitive(),
		pluginsdk.String("table", "Table to write, optionally schema-qualified (events, archive.events)).").Required(),
		pluginsdk.Bool("create_table", "Create the table when it does not exist.").Default(true),
		pluginsdk.Duration("connect_timeout", "How long opening the connection may take.").Default("10s"),
	)
}

// columns are the sink's columns, in COPY order.
var columns = []string{"id", "type", "time", "key", "attributes", "content_type", "data_json", "data"}

// Sink upserts batches into one table over one connection.
type Sink struct {
	log            pluginsdk.Logger
	cfg            *pgx.ConnConfig
	table          pgx.Identifier
	create         bool
	connectTimeout time.Duration

	conn *pgx.Conn // nil until Open, and after a connection failure
	rows [][]any   // reused between batches; Write is never concurrent
}

var _ pluginsdk.Sink = (*Sink)(nil)

// identPart is an unquoted SQL identifier; quoting is done by the sink.
var identPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}$`)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	cfg, err := pgx.ParseConfig(init.Config.String("connection"))
	if err != nil {
		// The parse error quotes the string, which may hold a password.
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			err = pe.Unwrap()
		} else {
			err = errors.New("not a PostgreSQL connection string")
		}
		return nil, pluginsdk.NewAttrError(fmt.Errorf("cannot parse the connection string: %w", err), "connection")
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "flowctl " + init.Address // shows in pg_stat_activity
	}
	table, err := parseTable(init.Config.String("table"))
	if err != nil {
		return nil, pluginsdk.NewAttrError(err, "table")
	}
	timeout := init.Config.Duration("connect_timeout")
	if timeout <= 0 {
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "connect_timeout")
	}
	return &Sink{
		log: init.Logger, cfg: cfg, table: table,
		create: init.Config.Bool("create_table"), connectTimeout: timeout,
	}, nil
}

func parseTable(s string) (pgx.Identifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 2 || slices.ContainsFunc(parts, func(p string) bool { return !identPart.MatchString(p) }) {
		return nil, fmt.Errorf("%q is not a table name: want name or schema.name, each a letter or _ followed by letters, digits, _ or $ (at most 63)", s)
	}
	return pgx.Identifier(parts), nil
}

// Open connects, creates the table when asked and checks its columns.
func (s *Sink) Open(ctx context.Context) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	if s.create {
		if _, err := s.conn.Exec(ctx, s.createSQL()); err != nil {
			return fmt.Errorf("postgres sink: create table %s: %w", s.table.Sanitize(), err)
		}
	}
	return s.checkColumns(ctx)
}

func (s *Sink) connect(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.cfg)
	if err != nil {
		return fmt.Errorf("postgres sink: connect to %s:%d: %w", s.cfg.Host, s.cfg.Port, err)
	}
	// The staging table lives as long as the connection; its rows as long
	// as a transaction.
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE flowctl_stage (
  id text, type text, time timestamptz, key bytea, attributes jsonb,
  content_type text, data_json jsonb, data bytea
) ON COMMIT DELETE ROWS`)
	if err != nil {
		conn.Close(ctx)
		return fmt.Errorf("postgres sink: create staging table: %w", err)
	}
	s.conn = conn
	return nil
}

func (s *Sink) createSQL() string {
	return `CREATE TABLE IF NOT EXISTS ` + s.table.Sanitize() + ` (
  id           text PRIMARY KEY,
  type         text NOT NULL,
  time         timestamptz,
  key          bytea,
  attributes   jsonb NOT NULL DEFAULT '{}',
  content_type text,
  data_json    jsonb,
  data         bytea
)`
}

func (s *Sink) checkColumns(ctx context.Context) error {
	rows, err := s.conn.Query(ctx,
		`SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
		s.table.Sanitize())
	if err != nil {
		return fmt.Errorf("postgres sink: read the columns of %s: %w", s.table.Sanitize(), err)
	}
	have, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres sink: read the columns of %s: %w", s.table.Sanitize(), err)
	}
	if len(have) == 0 {
		return fmt.Errorf("postgres sink: table %s does not exist (set create_table = true to create it)", s.table.Sanitize())
	}
	var missing []string
	for _, c := range columns {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("postgres sink: table %s lacks the columns %s (it needs %s)",
			s.table.Sanitize(), strings.Join(missing, ", "), strings.Join(columns, ", "))
	}
	return nil
}

// Write upserts the batch in one transaction and returns after COMMIT.
func (s *Sink) Write(ctx context.Context, batch []pluginsdk.Event) error {
	rows, err := s.stage(batch)
	if err != nil {
		return err
	}
	if s.conn == nil { // the last write lost the connection
		if err := s.connect(ctx); err != nil {
			return err
		}
	}
	if err := s.upsert(ctx, rows); err != nil {
		if s.conn.IsClosed() || isConnError(err) {
			s.conn.Close(context.WithoutCancel(ctx))
			s.conn = nil
		}
		return fmt.Errorf("postgres sink: write %d events to %s: %w", len(batch), s.table.Sanitize(), err)
	}
	return nil
}

func isConnError(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) // any error not from the server may have broken the connection
}

// stage turns the batch into rows, the last event of an id winning.
func (s *Sink) stage(batch []pluginsdk.Event) ([][]any, error) {
	last := make(map[string]int, len(batch))
	for i, e := range batch {
		if e.ID == "" {
			return nil, fmt.Errorf("postgres sink: event %d of the batch has no id, and rows are upserted by id", i+1)
		}
		last[e.ID] = i
	}
	rows := s.rows[:0]
	for i, e := range batch {
		if last[e.ID] != i {
			continue
		}
		row, err := toRow(e)
		if err != nil {
			return nil, fmt.Errorf("postgres sink: event %q: %w", e.ID, err)
		}
		rows = append(rows, row)
	}
	s.rows = rows
	return rows, nil
}

func toRow(e pluginsdk.Event) ([]any, error) {
	attrs := make(map[string]string, len(e.Attributes))
	for _, a := range e.Attributes {
		attrs[a.Key] = a.Value
	}
	attrJSON, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	var t any
	if !e.Time.IsZero() {
		t = e.Time
	}
	var key, ct, dataJSON, data any
	if len(e.Key) > 0 {
		key = e.Key
	}
	if e.ContentType != "" {
		ct = e.ContentType
	}
	switch {
	case len(e.Data) == 0:
	case jsonl.IsJSON(e.ContentType) && json.Valid(e.Data):
		dataJSON = string(e.Data)
	default:
		data = e.Data
	}
	return []any{e.ID, e.Type, t, key, string(attrJSON), ct, dataJSON, data}, nil
}

func (s *Sink) upsert(ctx context.Context, rows [][]any) error {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"flowctl_stage"}, columns, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.upsertSQL()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *Sink) upsertSQL() string {
	set := make([]string, 0, len(columns)-1)
	for _, c := range columns[1:] {
		set = append(set, c+" = EXCLUDED."+c)
	}
	cols := strings.Join(columns, ", ")
	return "INSERT INTO " + s.table.Sanitize() + " (" + cols + ") SELECT " + cols +
		" FROM flowctl_stage ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
}

// Teardown closes the connection. It is safe after a failed or missing Open.
func (s *Sink) Teardown(ctx context.Context) error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}
