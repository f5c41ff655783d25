package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// authorize returns EFORBIDDEN (EUNAUTHORIZED for the public) unless the
// actor in ctx holds p. The HTTP layer checks routes first; this is the
// second line for everything that changes data.
func authorize(ctx context.Context, p cityops.Permission) error {
	a := cityops.ActorFromContext(ctx)
	if a.Can(p) {
		return nil
	}
	if a == nil {
		return cityops.Errorf(cityops.EUNAUTHORIZED, "sign in first")
	}
	return cityops.Errorf(cityops.EFORBIDDEN, "you may not do this (needs %s)", p)
}

// set copies *src into *dst when src is given: the PATCH rule that a nil
// field of an XUpdate leaves the stored value alone.
func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func marshalNames(n cityops.Names) string {
	if len(n) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(n)
	return string(b)
}

func unmarshalNames(s string) cityops.Names {
	var n cityops.Names
	if s != "" && s != "{}" {
		_ = json.Unmarshal([]byte(s), &n)
	}
	return n
}

// nullTime converts a scanned nullable timestamp to a pointer in UTC.
func nullTime(t sql.Null[time.Time]) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.V.UTC()
	return &u
}

func timeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// where builds a WHERE clause from conditions with $N placeholders numbered
// in order of the arguments added.
type where struct {
	conds []string
	args  []any
}

// add appends a condition; each '?' in cond becomes the next $N.
func (w *where) add(cond string, args ...any) {
	var b strings.Builder
	for _, r := range cond {
		if r == '?' {
			w.args = append(w.args, args[0])
			args = args[1:]
			fmt.Fprintf(&b, "$%d", len(w.args))
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
}

// in adds "col in (...)" for a non-empty list of values.
func (w *where) in(col string, values []string) {
	if len(values) == 0 {
		return
	}
	ph := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		ph[i], args[i] = "?", v
	}
	w.add(col+" in ("+strings.Join(ph, ", ")+")", args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " where " + strings.Join(w.conds, " and ")
}

// page returns a LIMIT/OFFSET clause; a zero or negative limit means all.
func (d *DB) page(offset, limit int) string {
	s := ""
	if limit > 0 {
		s += fmt.Sprintf(" limit %d", limit)
	}
	if offset > 0 {
		if limit <= 0 && d.dialect == SQLite {
			s += " limit -1"
		}
		s += fmt.Sprintf(" offset %d", offset)
	}
	return s
}

func notFound(what, code string) error {
	return cityops.Errorf(cityops.ENOTFOUND, "%s %q not found", what, code)
}

// optionalAgency resolves an optional agency code inside tx: nil for "",
// the agency's id, or an EINVALID error on field for an unknown code.
func optionalAgency(ctx context.Context, tx *Tx, field, code string) (any, error) {
	if code == "" {
		return nil, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `select id from agencies where code = $1`, code).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{field: fmt.Sprintf("unknown agency %q", code)}}
	}
	if err != nil {
		return nil, fmt.Errorf("agency %s: %w", code, err)
	}
	return id, nil
}
