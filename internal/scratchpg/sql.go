package scratchpg

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ConnString returns a libpq keyword/value connection string for database
// db (empty means "postgres"):
// host=127.0.0.1 port=N user=postgres dbname=db sslmode=disable.
func (c *Cluster) ConnString(db string) string {
	if db == "" {
		db = "postgres"
	}
	return "host=127.0.0.1 port=" + strconv.Itoa(c.port) +
		" user=postgres dbname=" + quoteConnValue(db) + " sslmode=disable"
}

// quoteConnValue quotes v for a keyword/value connection string if needed.
func quoteConnValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\f\v'\\") {
		return v
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "'" + v + "'"
}

// Connect opens a pgx connection to database db (empty means "postgres")
// with pgx's default settings. The caller closes it.
func (c *Cluster) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.ConnString(db))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 10 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// ConnectSimple opens a connection to database db that uses the simple
// query protocol, as the package's SQL helpers do: several statements per
// string, every value in its text form.
func (c *Cluster) ConnectSimple(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.ConnString(db))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 10 * time.Second
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	return pgx.ConnectConfig(ctx, cfg)
}

// ExecContext runs sql, which may hold several statements when args is
// empty, in database "postgres". Args are interpolated by pgx.
func (c *Cluster) ExecContext(ctx context.Context, sql string, args ...any) error {
	conn, err := c.ConnectSimple(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: exec %q: %w", sql, err)
	}
	return nil
}

// QueryContext runs a query in database "postgres" and returns its rows
// with every value in its text form; NULL becomes "".
func (c *Cluster) QueryContext(ctx context.Context, sql string, args ...any) ([][]string, error) {
	conn, err := c.ConnectSimple(ctx, "postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("pgtest: query %q: %w", sql, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]string, len(raw))
		for i, v := range raw {
			row[i] = string(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgtest: query %q: %w", sql, err)
	}
	return out, nil
}

// queryValue runs a query that must return exactly one row and column.
func (c *Cluster) queryValue(ctx context.Context, sql string, args ...any) (string, error) {
	rows, err := c.QueryContext(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return "", fmt.Errorf("pgtest: query %q: want one value, got %v", sql, rows)
	}
	return rows[0][0], nil
}
