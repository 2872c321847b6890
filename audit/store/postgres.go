package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres connects to the PostgreSQL store at a postgres:// URL and
// migrates its schema. Errors never show the password.
func openPostgres(ctx context.Context, location string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(location)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %s", Redact(location), redactErr(err, location))
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &sqlStore{db: db, pool: pool, postgres: true, desc: Redact(location), app: &appender{}}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("audit store %s: %s", s.desc, redactErr(err, location))
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("audit store %s: %s", s.desc, redactErr(err, location))
	}
	return s, nil
}
