package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
)

// qSQL translates an NGSI-LD q expression into a condition on entities
// (by their id) through the indexed values of entity_values. exact reports
// that the condition means exactly q (clause 4.9 as q.Eval implements
// it); otherwise it holds for a superset of the matches and the caller
// evaluates q on what it returns. Comparisons of numbers, strings and
// URIs with ==, !=, ordering, lists and ranges, and existence tests, on
// top-level attributes, are exact; sub-attributes, member paths, patterns,
// booleans and dates become "the attribute exists".
func (d *DB) qSQL(e q.Expr, expand func(string) string) (cond string, args []any, exact bool) {
	switch e := e.(type) {
	case q.And:
		lc, la, le := d.qSQL(e.L, expand)
		rc, ra, re := d.qSQL(e.R, expand)
		return "(" + lc + " and " + rc + ")", append(la, ra...), le && re
	case q.Or:
		lc, la, le := d.qSQL(e.L, expand)
		rc, ra, re := d.qSQL(e.R, expand)
		return "(" + lc + " or " + rc + ")", append(la, ra...), le && re
	case *q.And:
		return d.qSQL(*e, expand)
	case *q.Or:
		return d.qSQL(*e, expand)
	case *q.Term:
		return d.termSQL(*e, expand, true)
	case q.Term:
		return d.termSQL(e, expand, true)
	}
	return "1 = 0", nil, true
}

// valuesOf starts a correlated test on the entity's values: per entity
// it is a probe of entity_values' primary key, so a scan of a type in id
// order stops as soon as a page is full.
const valuesOf = `exists (select 1 from entity_values v where v.entity_pk = entities.id and v.attr = ?`

// termSQL translates one term. Correlated, its value columns get a unary
// + on SQLite, which keeps the probe on entity_values' primary key
// (entity_pk, attr) instead of a value index.
func (d *DB) termSQL(t q.Term, expand func(string) string, correlated bool) (string, []any, bool) {
	attr := expand(t.Path.Attr)
	exists := valuesOf + `)`
	if len(t.Path.Sub) > 0 || len(t.Path.Trail) > 0 || t.Op == "" {
		return exists, []any{attr}, len(t.Path.Sub) == 0 && len(t.Path.Trail) == 0
	}
	// col picks the column of a kind; "" when it is not indexed.
	col := func(k q.Kind) string {
		c := ""
		switch k {
		case q.Number:
			c = "v.num"
		case q.String, q.URI:
			c = "v.str"
		}
		if c != "" && correlated && d.dialect == SQLite {
			c = "+" + c
		}
		return c
	}
	arg := func(v q.Value) any {
		if v.Kind == q.Number {
			return v.N
		}
		return v.S
	}
	// Ordering strings must compare bytes, as Go does; PostgreSQL's
	// default collation may not.
	collate := func(c string) string {
		if strings.HasSuffix(c, "str") && d.dialect == Postgres {
			return ` collate "C"`
		}
		return ""
	}
	var pos string
	var args []any
	switch {
	case t.Regexp != nil:
		return exists, []any{attr}, false
	case t.Range != nil:
		c := col(t.Range[0].Kind)
		if c == "" || col(t.Range[1].Kind) != c {
			return exists, []any{attr}, false
		}
		pos = valuesOf + ` and ` + c + collate(c) + ` between ? and ?)`
		args = []any{attr, arg(t.Range[0]), arg(t.Range[1])}
	case t.List != nil:
		c := col(t.List[0].Kind)
		ph := make([]string, len(t.List))
		args = []any{attr}
		for i, v := range t.List {
			if c == "" || col(v.Kind) != c {
				return exists, []any{attr}, false
			}
			ph[i] = "?"
			args = append(args, arg(v))
		}
		pos = valuesOf + ` and ` + c + ` in (` + strings.Join(ph, ", ") + `))`
	default:
		c := col(t.Value.Kind)
		if c == "" {
			return exists, []any{attr}, false
		}
		op := t.Op
		if op == "!=" {
			op = "=="
		}
		switch op {
		case "==":
			pos = valuesOf + ` and ` + c + ` = ?)`
		case ">", ">=", "<", "<=":
			pos = valuesOf + ` and ` + c + collate(c) + ` ` + op + ` ?)`
		default:
			return exists, []any{attr}, false
		}
		args = []any{attr, arg(t.Value)}
	}
	if t.Op == "!=" {
		// The attribute exists and none of its values equals.
		return "(" + exists + " and not " + pos + ")", append([]any{attr}, args...), true
	}
	return pos, args, true
}

// maxCandidates is where planning switches: a q whose matches are fewer
// is answered from their keys, fetched through the value indexes; one
// with more, by scanning the type in id order, which soon fills a page.
const maxCandidates = 2000

// candidates returns the keys of a superset of q's matches when it can
// bound them by maxCandidates through the indexes, and false otherwise.
func (d *DB) candidates(ctx context.Context, e q.Expr, expand func(string) string) ([]int64, bool, error) {
	switch e := e.(type) {
	case *q.And:
		return d.candidates(ctx, *e, expand)
	case *q.Or:
		return d.candidates(ctx, *e, expand)
	case *q.Term:
		return d.candidates(ctx, *e, expand)
	case q.And:
		l, lok, err := d.candidates(ctx, e.L, expand)
		if err != nil || lok && len(l) < maxCandidates/10 {
			return l, lok, err
		}
		r, rok, err := d.candidates(ctx, e.R, expand)
		switch {
		case err != nil:
			return nil, false, err
		case lok && (!rok || len(l) <= len(r)):
			return l, true, nil
		}
		return r, rok, nil
	case q.Or:
		l, lok, err := d.candidates(ctx, e.L, expand)
		if err != nil || !lok {
			return nil, false, err
		}
		r, rok, err := d.candidates(ctx, e.R, expand)
		if err != nil || !rok || len(l)+len(r) > maxCandidates {
			return nil, false, err
		}
		return append(l, r...), true, nil
	case q.Term:
		cond, args, ok := d.termValues(e, expand)
		if !ok {
			return nil, false, nil
		}
		// A broad term is told by a row past maxCandidates, found by
		// walking the index, before any keys are gathered.
		var more int
		err := d.db.QueryRowContext(ctx, `select 1 from entity_values v where `+numbered(cond)+
			` limit 1 offset `+strconv.Itoa(maxCandidates), args...).Scan(&more)
		if err == nil {
			return nil, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("q candidates: %w", err)
		}
		rows, err := d.db.QueryContext(ctx, `select distinct entity_pk from entity_values v where `+numbered(cond)+
			` limit `+strconv.Itoa(maxCandidates+1), args...)
		if err != nil {
			return nil, false, fmt.Errorf("q candidates: %w", err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var pk int64
			if err := rows.Scan(&pk); err != nil {
				return nil, false, fmt.Errorf("q candidates: %w", err)
			}
			out = append(out, pk)
		}
		if err := rows.Err(); err != nil {
			return nil, false, fmt.Errorf("q candidates: %w", err)
		}
		return out, len(out) <= maxCandidates, nil
	}
	return nil, false, nil
}

// termValues is the predicate on entity_values rows (alias v) that a
// positive term's matching entities have a row for: the term itself when
// exact, or the attribute's existence.
func (d *DB) termValues(t q.Term, expand func(string) string) (string, []any, bool) {
	if t.Op == "!=" || t.Op == "!~=" {
		return "", nil, false
	}
	cond, args, _ := d.termSQL(t, expand, false)
	// termSQL's condition is valuesOf + " and …)": keep what follows the
	// correlation.
	inner, ok := strings.CutPrefix(cond, valuesOf)
	if !ok {
		return "", nil, false
	}
	return "v.attr = ?" + strings.TrimSuffix(inner, ")"), args, true
}

// numbered turns '?' into $1, $2, … (both databases take those).
func numbered(cond string) string {
	var b strings.Builder
	n := 0
	for _, r := range cond {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// countEntities counts what w selects. When q has matches too many to
// be narrowed to, but one of its terms must hold (q is that term, or an
// and of it and others), the count is driven from that term's values
// instead of walking the whole type: its cost follows the matches.
func (d *DB) countEntities(ctx context.Context, f cityops.EntityFilter, w where, expr q.Expr, expand func(string) string, narrowed bool) (int, error) {
	var n int
	if expr == nil && f.IDPattern == nil && len(f.IDs) == 0 && f.Box == nil && len(f.Types) > 0 {
		// A type alone: the kept counts.
		var tw where
		tw.add("tenant = ?", f.Tenant)
		tw.in("type", f.Types)
		if err := d.db.QueryRowContext(ctx, `select cast(coalesce(sum(n), 0) as bigint) from entity_type_counts`+tw.String(), tw.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count entities: %w", err)
		}
		return n, nil
	}
	// The term with the fewest matches, if it has few enough.
	best, bestN := "", maxDriven+1
	var bestArgs []any
	if !narrowed && f.Box == nil {
		for _, t := range drivingTerms(expr) {
			cond, args, ok := d.termValues(t, expand)
			if !ok {
				continue
			}
			var some int
			if err := d.db.QueryRowContext(ctx, `select count(*) from (select 1 from entity_values v where `+numbered(cond)+
				` limit `+strconv.Itoa(maxDriven+1)+`) s`, args...).Scan(&some); err != nil {
				return 0, fmt.Errorf("count entities: %w", err)
			}
			if some < bestN {
				best, bestN, bestArgs = cond, some, args
			}
		}
	}
	if best != "" {
		// On SQLite the type's index is turned off (+), so that the only
		// way in is the values' index through id in (…).
		hint := ""
		if d.dialect == SQLite {
			hint = "+"
		}
		var dw where
		dw.add(hint+"tenant = ?", f.Tenant)
		dw.in(hint+"type", f.Types)
		dw.in("entity_id", f.IDs)
		dw.add("id in (select entity_pk from entity_values v where "+best+")", bestArgs...)
		full, fargs, _ := d.qSQL(expr, expand)
		dw.add(full, fargs...)
		if err := d.db.QueryRowContext(ctx, `select count(*) from entities`+dw.String(), dw.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count entities: %w", err)
		}
		return n, nil
	}
	if err := d.db.QueryRowContext(ctx, `select count(*) from entities`+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count entities: %w", err)
	}
	return n, nil
}

// maxDriven is the most matches of a term a count is driven from.
const maxDriven = 20000

// drivingTerms lists the positive terms every match of e satisfies: e
// itself, or the sides of an and.
func drivingTerms(e q.Expr) []q.Term {
	switch e := e.(type) {
	case q.Term:
		if e.Op != "!=" && e.Op != "!~=" {
			return []q.Term{e}
		}
	case *q.Term:
		return drivingTerms(*e)
	case q.And:
		return append(drivingTerms(e.L), drivingTerms(e.R)...)
	case *q.And:
		return drivingTerms(*e)
	}
	return nil
}
