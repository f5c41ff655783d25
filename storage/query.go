package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
)

// codesFunc gives the codes (attrnames.go) an attribute's values are
// stored under, among the types a query selects.
type codesFunc func(name string) []string

// qSQL translates an NGSI-LD q expression into a condition on an entity
// (whose key is the SQL expression outer) through the indexed values of
// entity_values. exact reports that the condition means exactly q
// (clause 4.9 as q.Eval implements it); otherwise it holds for a superset
// of the matches and the caller evaluates q on what it returns.
// Comparisons of numbers, strings and URIs with ==, !=, ordering, lists
// and ranges, and existence tests, on top-level attributes, are exact;
// sub-attributes, member paths, patterns, booleans and dates become "the
// attribute exists".
func (d *DB) qSQL(e q.Expr, codes codesFunc, outer string) (cond string, args []any, exact bool) {
	switch e := e.(type) {
	case q.And:
		lc, la, le := d.qSQL(e.L, codes, outer)
		rc, ra, re := d.qSQL(e.R, codes, outer)
		return "(" + lc + " and " + rc + ")", append(la, ra...), le && re
	case q.Or:
		lc, la, le := d.qSQL(e.L, codes, outer)
		rc, ra, re := d.qSQL(e.R, codes, outer)
		return "(" + lc + " or " + rc + ")", append(la, ra...), le && re
	case *q.And:
		return d.qSQL(*e, codes, outer)
	case *q.Or:
		return d.qSQL(*e, codes, outer)
	case *q.Term:
		return d.termSQL(*e, codes, outer)
	case q.Term:
		return d.termSQL(e, codes, outer)
	}
	return "1 = 0", nil, true
}

// termSQL translates one term. With outer, it is a correlated test on
// that entity's values (alias x): per entity a probe of entity_values'
// primary key, so a scan of a type in id order stops as soon as a page
// is full; its value columns get a unary + on SQLite, which keeps the
// probe on the primary key (entity_pk, attr) instead of a value index.
// Without outer, it is the predicate on entity_values rows (alias v) that
// a positive term's matching entities have a row for.
func (d *DB) termSQL(t q.Term, codes codesFunc, outer string) (string, []any, bool) {
	list := codes(t.Path.Attr)
	if len(list) == 0 {
		list = []string{noCode}
	}
	alias := "v"
	if outer != "" {
		alias = "x"
	}
	head := alias + ".attr in (" + questionMarks(len(list)) + ")"
	headArgs := make([]any, len(list))
	for i, c := range list {
		headArgs[i] = c
	}
	wrap := func(cond string) string {
		if outer == "" {
			return cond
		}
		return "exists (select 1 from entity_values x where x.entity_pk = " + outer + " and " + cond + ")"
	}
	exists := wrap(head)
	if len(t.Path.Sub) > 0 || len(t.Path.Trail) > 0 || t.Op == "" {
		return exists, headArgs, len(t.Path.Sub) == 0 && len(t.Path.Trail) == 0
	}
	// col picks the column of a kind; "" when it is not indexed.
	col := func(k q.Kind) string {
		c := ""
		switch k {
		case q.Number:
			c = alias + ".num"
		case q.String, q.URI:
			c = alias + ".str"
		}
		if c != "" && outer != "" && d.dialect == SQLite {
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
	args := append([]any(nil), headArgs...)
	switch {
	case t.Regexp != nil:
		return exists, headArgs, false
	case t.Range != nil:
		c := col(t.Range[0].Kind)
		if c == "" || col(t.Range[1].Kind) != c {
			return exists, headArgs, false
		}
		pos = wrap(head + ` and ` + c + collate(c) + ` between ? and ?`)
		args = append(args, arg(t.Range[0]), arg(t.Range[1]))
	case t.List != nil:
		c := col(t.List[0].Kind)
		ph := make([]string, len(t.List))
		for i, v := range t.List {
			if c == "" || col(v.Kind) != c {
				return exists, headArgs, false
			}
			ph[i] = "?"
			args = append(args, arg(v))
		}
		pos = wrap(head + ` and ` + c + ` in (` + strings.Join(ph, ", ") + `)`)
	default:
		c := col(t.Value.Kind)
		if c == "" {
			return exists, headArgs, false
		}
		op := t.Op
		if op == "!=" {
			op = "=="
		}
		switch op {
		case "==":
			pos = wrap(head + ` and ` + c + ` = ?`)
		case ">", ">=", "<", "<=":
			pos = wrap(head + ` and ` + c + collate(c) + ` ` + op + ` ?`)
		default:
			return exists, headArgs, false
		}
		args = append(args, arg(t.Value))
	}
	if t.Op == "!=" {
		// The attribute exists and none of its values equals.
		return "(" + exists + " and not " + pos + ")", append(headArgs, args...), true
	}
	return pos, args, true
}

// maxCandidates is where planning switches: a q whose matches are fewer
// is answered from their keys, fetched through the value indexes; one
// with more, by scanning the type in id order, which soon fills a page.
const maxCandidates = 2000

// candidates returns the keys of a superset of q's matches when it can
// bound them by maxCandidates through the indexes, and false otherwise.
func (d *DB) candidates(ctx context.Context, e q.Expr, codes codesFunc) ([]int64, bool, error) {
	switch e := e.(type) {
	case *q.And:
		return d.candidates(ctx, *e, codes)
	case *q.Or:
		return d.candidates(ctx, *e, codes)
	case *q.Term:
		return d.candidates(ctx, *e, codes)
	case q.And:
		l, lok, err := d.candidates(ctx, e.L, codes)
		if err != nil || lok && len(l) < maxCandidates/10 {
			return l, lok, err
		}
		r, rok, err := d.candidates(ctx, e.R, codes)
		switch {
		case err != nil:
			return nil, false, err
		case lok && (!rok || len(l) <= len(r)):
			return l, true, nil
		}
		return r, rok, nil
	case q.Or:
		l, lok, err := d.candidates(ctx, e.L, codes)
		if err != nil || !lok {
			return nil, false, err
		}
		r, rok, err := d.candidates(ctx, e.R, codes)
		if err != nil || !rok || len(l)+len(r) > maxCandidates {
			return nil, false, err
		}
		return append(l, r...), true, nil
	case q.Term:
		cond, args, ok := d.termValues(e, codes)
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
func (d *DB) termValues(t q.Term, codes codesFunc) (string, []any, bool) {
	if t.Op == "!=" || t.Op == "!~=" {
		return "", nil, false
	}
	cond, args, _ := d.termSQL(t, codes, "")
	return cond, args, true
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

// countEntities counts what w selects. A q with a term every match
// satisfies (q is that term, or an and of it and others), on no other
// filter than types, is counted from the value index alone: a code
// stands for one type in one tenant (attrnames.go), so the term's index
// range holds only candidates, each tested for the rest of q by probing
// its values, and no entity is read. Its cost follows the term with the
// fewest matches.
func (d *DB) countEntities(ctx context.Context, f cityops.EntityFilter, w where, expr q.Expr, codes codesFunc) (int, error) {
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
	if expr != nil && len(f.IDs) == 0 && f.Box == nil && d.attrs.ready.Load() {
		// The term with the fewest matches (counted up to maxDriven).
		best, bestN := "", maxDriven+2
		var bestArgs []any
		terms := drivingTerms(expr)
		for _, t := range terms {
			cond, args, ok := d.termValues(t, codes)
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
		if best != "" {
			if bestN > cheapCount {
				if err := d.acquireCount(ctx); err != nil {
					return 0, err
				}
				defer d.releaseCount()
			}
			var cw where
			cw.add(best, bestArgs...)
			// A single term is its own test.
			_, single := expr.(q.Term)
			_, singlePtr := expr.(*q.Term)
			if !single && !singlePtr {
				full, fargs, _ := d.qSQL(expr, codes, "v.entity_pk")
				cw.add(full, fargs...)
			}
			if err := d.db.QueryRowContext(ctx, `select count(distinct v.entity_pk) from entity_values v`+cw.String(), cw.args...).Scan(&n); err != nil {
				return 0, fmt.Errorf("count entities: %w", err)
			}
			return n, nil
		}
	}
	if err := d.acquireCount(ctx); err != nil {
		return 0, err
	}
	defer d.releaseCount()
	if err := d.db.QueryRowContext(ctx, `select count(*) from entities`+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count entities: %w", err)
	}
	return n, nil
}

// countSlots bounds the broad counts that run at once: half the cores,
// at least one. Counting a q whose terms all match thousands of entities
// reads tens of thousands of index entries; a few at once kept every
// core busy and the pages waiting (docs/benchmarks.md). Pages, counts of
// a type alone and counts driven by a term with at most cheapCount
// matches do not wait.
const cheapCount = 1000

var countSlots = max(1, runtime.GOMAXPROCS(0)/2)

// acquireCount waits for a count's turn, or for ctx.
func (d *DB) acquireCount(ctx context.Context) error {
	select {
	case d.counts <- struct{}{}:
		return nil
	case <-ctx.Done():
		return cityops.Errorf(cityops.EUNAVAILABLE, "too many counts are running; try again")
	}
}

func (d *DB) releaseCount() { <-d.counts }

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
