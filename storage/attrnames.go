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
// expanded name. A code stands for one attribute of the entities of one
// type in one tenant (an entity's type never changes). A Smart Data
// Model's pm25 is a 55-character IRI that was repeated in every indexed
// value, history block and roll-up row and in their indexes' keys; with
// codes of a few characters a page holds three times the index entries,
// and the NGSI-LD batch upsert went 25 % faster (docs/benchmarks.md). A
// range of the value index under one code holds exactly the matches of
// one type in one tenant, so a q is counted from the index alone.
// Entities keep their attributes by name (entities.attrs); only those
// three tables use codes, and the functions that read or write them
// translate.
//
// A code is given once, inside the writing transaction, and never
// changes or goes away, so memory keeps every code it has seen; a code
// given by a transaction joins memory only once that transaction commits.

// attrKey is what a code stands for.
type attrKey struct{ tenant, typ, name string }

// attrCodes is memory's copy of attr_names.
type attrCodes struct {
	// ready: migrations made attr_names (the tables held names before).
	ready atomic.Bool
	mu    sync.RWMutex
	byKey map[attrKey]string
}

func (c *attrCodes) cached(k attrKey) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	code, ok := c.byKey[k]
	return code, ok
}

func (c *attrCodes) put(m map[attrKey]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = make(map[attrKey]string, len(m))
	}
	for k, code := range m {
		c.byKey[k] = code
	}
}

// noCode stands for an attribute no row names: no code equals it.
const noCode = "-"

// attrCode returns the code of an attribute of the entities of a type
// for reading, noCode when it has none (nothing was ever written under
// that name).
func (d *DB) attrCode(ctx context.Context, qr queryer, tenant, typ, name string) (string, error) {
	if !d.attrs.ready.Load() {
		return name, nil
	}
	k := attrKey{tenant, typ, name}
	if code, ok := d.attrs.cached(k); ok {
		return code, nil
	}
	var id int64
	err := qr.QueryRowContext(ctx, `select id from attr_names where tenant = $1 and name = $2 and type = $3`, tenant, name, typ).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return noCode, nil
	}
	if err != nil {
		return "", fmt.Errorf("attribute code: %w", err)
	}
	code := strconv.FormatInt(id, 10)
	if qr == queryer(d.db) {
		// Committed (inside a transaction it may not be yet).
		d.attrs.put(map[attrKey]string{k: code})
	}
	return code, nil
}

// attrCodesOf returns the codes of an attribute among the given types of
// a tenant, or among all its types when none is given.
func (d *DB) attrCodesOf(ctx context.Context, tenant string, types []string, name string) ([]string, error) {
	if !d.attrs.ready.Load() {
		return []string{name}, nil
	}
	var out []string
	if len(types) > 0 {
		for _, typ := range types {
			code, err := d.attrCode(ctx, d.db, tenant, typ, name)
			if err != nil {
				return nil, err
			}
			if code != noCode {
				out = append(out, code)
			}
		}
		return out, nil
	}
	rows, err := d.db.QueryContext(ctx, `select id from attr_names where tenant = $1 and name = $2`, tenant, name)
	if err != nil {
		return nil, fmt.Errorf("attribute codes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("attribute codes: %w", err)
		}
		out = append(out, strconv.FormatInt(id, 10))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attribute codes: %w", err)
	}
	return out, nil
}

// codeFor returns the code of an attribute of the entities of a type for
// writing, giving it one if it has none.
func (tx *Tx) codeFor(ctx context.Context, tenant, typ, name string) (string, error) {
	if !tx.db.attrs.ready.Load() {
		return name, nil
	}
	k := attrKey{tenant, typ, name}
	if code, ok := tx.db.attrs.cached(k); ok {
		return code, nil
	}
	if code, ok := tx.newCodes[k]; ok {
		return code, nil
	}
	if _, err := tx.ExecContext(ctx, `insert into attr_names (tenant, type, name) values ($1, $2, $3)
		on conflict (tenant, name, type) do nothing`, tenant, typ, name); err != nil {
		return "", fmt.Errorf("attribute code: %w", err)
	}
	code, err := tx.db.attrCode(ctx, tx, tenant, typ, name)
	if err != nil {
		return "", err
	}
	if tx.newCodes == nil {
		tx.newCodes = map[attrKey]string{}
	}
	tx.newCodes[k] = code
	return code, nil
}

// codeExpand returns, for the attributes of e (a q expression), their
// codes among the filter's types: what its conditions on entity_values
// compare with.
func (d *DB) codeExpand(ctx context.Context, e q.Expr, tenant string, types []string, expand func(string) string) (func(string) []string, error) {
	codes := map[string][]string{}
	for _, attr := range q.Attrs(e) {
		name := expand(attr)
		if _, ok := codes[name]; ok {
			continue
		}
		list, err := d.attrCodesOf(ctx, tenant, types, name)
		if err != nil {
			return nil, err
		}
		codes[name] = list
	}
	return func(s string) []string { return codes[expand(s)] }, nil
}
