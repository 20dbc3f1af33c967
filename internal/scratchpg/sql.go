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

// RelationFile is where a relation's main fork lives and how many blocks
// it has.
type RelationFile struct {
	SpcNode, DbNode, RelNode uint32
	Blocks                   int64
}

// RelationFileContext reads table's RelationFile in the current database.
func (c *Cluster) RelationFileContext(ctx context.Context, table string) (RelationFile, error) {
	rows, err := c.QueryContext(ctx, `SELECT CASE WHEN reltablespace = 0 THEN 1663 ELSE reltablespace END,
		(SELECT oid FROM pg_database WHERE datname = current_database()),
		pg_relation_filenode(oid), pg_relation_size(oid) / 8192 FROM pg_class WHERE oid = $1::regclass`, table)
	if err != nil {
		return RelationFile{}, err
	}
	if len(rows) != 1 || len(rows[0]) != 4 {
		return RelationFile{}, fmt.Errorf("pgtest: relation %s: %v", table, rows)
	}
	var v [4]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(rows[0][i], 10, 63); err != nil {
			return RelationFile{}, fmt.Errorf("pgtest: relation %s: %w", table, err)
		}
	}
	return RelationFile{SpcNode: uint32(v[0]), DbNode: uint32(v[1]), RelNode: uint32(v[2]), Blocks: int64(v[3])}, nil
}
