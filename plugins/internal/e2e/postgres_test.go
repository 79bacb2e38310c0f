package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
)

const needsPostgres = "a PostgreSQL server (apt-get install postgresql)"

// TestAccPostgresArchiveExample runs examples/postgres-archive as its
// README does: every tenth order dropped, the rest one row each.
func TestAccPostgresArchiveExample(t *testing.T) {
	testserver.Acc(t, needsPostgres)
	pg := testserver.StartPostgres(t)
	env := []string{"FLOWCTL_VAR_database_url=" + pg.URL("flowctl")}
	state := t.TempDir()
	out := apply(t, examplesDir(t), env, 0, "apply", "--state-dir", state, "-var", "count=2000", "postgres-archive")
	if strings.Contains(out, pg.Password) {
		t.Errorf("flowctl printed the connection string's password:\n%s", out)
	}
	conn := pg.Connect(t)
	checkRows(t, conn, "orders", 2000, func(seq int) bool { return seq%10 != 0 })
	var parity, batch string
	if err := conn.QueryRow(t.Context(), `SELECT attributes->>'parity', attributes->>'batch' FROM orders WHERE id = '00001235'`).Scan(&parity, &batch); err != nil {
		t.Fatal(err)
	}
	if parity != "odd" || batch != "1" {
		t.Errorf("row 1235: parity %q batch %q, want odd and 1", parity, batch)
	}
	// Applied again, it resumes after its checkpoint: nothing new.
	out = apply(t, examplesDir(t), env, 0, "apply", "--state-dir", state, "-var", "count=2000", "postgres-archive")
	if !strings.Contains(out, "resuming from its checkpoint") {
		t.Errorf("second apply does not resume:\n%s", out)
	}
	checkRows(t, conn, "orders", 2000, func(seq int) bool { return seq%10 != 0 })
}

// checkRows checks that table holds exactly one row per generator event
// 1..n that keep selects, and no other.
func checkRows(t *testing.T, conn *pgx.Conn, table string, n int, keep func(int) bool) {
	t.Helper()
	want := 0
	for i := 1; i <= n; i++ {
		if keep(i) {
			want++
		}
	}
	var rows, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), count(DISTINCT id) FROM `+table).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	ids, err := conn.Query(t.Context(), `SELECT id FROM `+table+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(ids, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	have := map[string]bool{}
	for _, id := range got {
		have[id] = true
	}
	for i := 1; i <= n; i++ {
		if id := fmt.Sprintf("%08d", i); keep(i) && !have[id] {
			missing = append(missing, id)
		}
	}
	if rows != want || distinct != want || len(missing) > 0 {
		t.Fatalf("%s: %d rows, %d distinct ids, want exactly %d; %d missing (first %v)", table, rows, distinct, want, len(missing), missing[:min(5, len(missing))])
	}
	t.Logf("%s: exactly %d rows, no gap", table, rows)
}

func countRows(t *testing.T, conn *pgx.Conn, table string) int {
	var n int
	err := conn.QueryRow(t.Context(), `SELECT count(*) FROM `+table).Scan(&n)
	if err != nil && !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	return n
}

// TestAccPostgresKillSink: SIGKILL of the postgres sink plugin mid-run.
// Restarted within the run, or the run failing and applied again: either
// way exactly one row per event and no gap, because redelivered batches
// are upserted.
func TestAccPostgresKillSink(t *testing.T) {
	testserver.Acc(t, needsPostgres)
	pg := testserver.StartPostgres(t)
	const n = 20000
	tests := []struct {
		name     string
		attempts int
		exit     int // of the run that is killed
	}{
		{"restarted within the run", 3, 0},
		{"run fails and is applied again", 0, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := fmt.Sprintf("killed_%d", i)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.hcl"), fmt.Sprintf(`
variable "database_url" {
  type      = string
  sensitive = true
}
pipeline "pgkill" {
  restart {
    attempts = %d
    delay    = "100ms"
  }
}
source "generator" "orders" {
  count = %d
  rate  = 4000
  batch {
    size = 200
  }
}
processor "cel" "tag" {
  inputs = [source.orders]
  set    = { parity = "data.seq %% 2 == 0 ? 'even' : 'odd'" }
}
sink "postgres" "archive" {
  inputs     = [processor.tag]
  connection = var.database_url
  table      = %q
}
`, tt.attempts, n, table))
			env := []string{"FLOWCTL_VAR_database_url=" + pg.URL("flowctl")}
			conn := pg.Connect(t)
			r := start(t, dir, env, "apply", "p.hcl")
			eventually(t, r, time.Minute, "3000 rows written", func() bool { return countRows(t, conn, table) >= 3000 })
			r.kill("postgres")
			if code := r.wait(2 * time.Minute); code != tt.exit {
				t.Fatalf("killed run: exit %d, want %d:\n%s", code, tt.exit, r.output())
			}
			if tt.exit != 0 {
				if !strings.Contains(r.output(), "sink.archive") {
					t.Errorf("the failed run does not name the sink:\n%s", r.output())
				}
				before := countRows(t, conn, table)
				out := apply(t, dir, env, 0, "apply", "p.hcl")
				if !strings.Contains(out, "resuming from its checkpoint") {
					t.Errorf("re-apply does not resume:\n%s", out)
				}
				t.Logf("%d rows before the re-apply", before)
			} else if !strings.Contains(r.output(), "sink.archive: restarted") {
				t.Errorf("no restart reported:\n%s", r.output())
			}
			checkRows(t, conn, table, n, func(int) bool { return true })
		})
	}
}
