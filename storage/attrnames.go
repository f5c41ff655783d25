package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cityops/cityops/ngsild/q"
)

// Attribute codes.
//
// entity_values, entity_blocks and entity_rollups name an attribute by a
// code, the decimal number of its row in attr_names, instead of its
// expanded name: a Smart Data Model's pm25 is a 55-character IRI, and it
// was repeated in every indexed value, history block and roll-up row and
// in their indexes' keys. With codes of a few characters a page holds
// three times the index entries and keys compare sooner; the NGSI-LD
// batch upsert went 25 % faster (docs/benchmarks.md). Entities keep
// their attributes by name (entities.attrs); only those three tables use
// codes, and the functions that read or write them translate.
//
// A code is given once, inside the writing transaction, and never
// changes or goes away, so memory keeps every code it has seen; a code
// given by a transaction joins memory only once that transaction commits.

// attrCodes is memory's copy of attr_names.
type attrCodes struct {
	// ready: migrations made attr_names (the tables held names before).
	ready  atomic.Bool
	mu     sync.RWMutex
	byName map[string]string
}

func (c *attrCodes) cached(name string) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	code, ok := c.byName[name]
	return code, ok
}

func (c *attrCodes) put(m map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = make(map[string]string, len(m))
	}
	for name, code := range m {
		c.byName[name] = code
	}
}

// noCode stands for an attribute no row names: no code equals it.
const noCode = "-"

// attrCode returns an attribute's code for reading, noCode when it has
// none (nothing was ever written under that name).
func (d *DB) attrCode(ctx context.Context, qr queryer, name string) (string, error) {
	if !d.attrs.ready.Load() {
		return name, nil
	}
	if code, ok := d.attrs.cached(name); ok {
		return code, nil
	}
	var id int64
	err := qr.QueryRowContext(ctx, `select id from attr_names where name = $1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return noCode, nil
	}
	if err != nil {
		return "", fmt.Errorf("attribute code: %w", err)
	}
	code := strconv.FormatInt(id, 10)
	if qr == queryer(d.db) {
		// Committed: another transaction's code may be read inside a
		// transaction that has not committed yet.
		d.attrs.put(map[string]string{name: code})
	}
	return code, nil
}

// codeFor returns an attribute's code for writing, giving it one if it
// has none.
func (tx *Tx) codeFor(ctx context.Context, name string) (string, error) {
	if !tx.db.attrs.ready.Load() {
		return name, nil
	}
	if code, ok := tx.db.attrs.cached(name); ok {
		return code, nil
	}
	if code, ok := tx.newCodes[name]; ok {
		return code, nil
	}
	if _, err := tx.ExecContext(ctx, `insert into attr_names (name) values ($1) on conflict (name) do nothing`, name); err != nil {
		return "", fmt.Errorf("attribute code: %w", err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `select id from attr_names where name = $1`, name).Scan(&id); err != nil {
		return "", fmt.Errorf("attribute code: %w", err)
	}
	code := strconv.FormatInt(id, 10)
	if tx.newCodes == nil {
		tx.newCodes = map[string]string{}
	}
	tx.newCodes[name] = code
	return code, nil
}

// codeExpand returns expand followed by the attribute's code, for the
// attributes of e (a q expression): what its conditions on entity_values
// compare with.
func (d *DB) codeExpand(ctx context.Context, e q.Expr, expand func(string) string) (func(string) string, error) {
	codes := map[string]string{}
	var walk func(e q.Expr) error
	walk = func(e q.Expr) error {
		switch e := e.(type) {
		case q.And:
			if err := walk(e.L); err != nil {
				return err
			}
			return walk(e.R)
		case q.Or:
			if err := walk(e.L); err != nil {
				return err
			}
			return walk(e.R)
		case *q.And:
			return walk(*e)
		case *q.Or:
			return walk(*e)
		case *q.Term:
			return walk(*e)
		case q.Term:
			name := expand(e.Path.Attr)
			if _, ok := codes[name]; ok {
				return nil
			}
			code, err := d.attrCode(ctx, d.db, name)
			codes[name] = code
			return err
		}
		return nil
	}
	if err := walk(e); err != nil {
		return nil, err
	}
	return func(s string) string {
		if code, ok := codes[expand(s)]; ok {
			return code
		}
		return noCode
	}, nil
}
