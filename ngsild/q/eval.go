package q

import (
	"encoding/json"
	"strings"
	"time"
)

// Eval reports whether an Entity matches e, for in-memory filtering
// (subscriptions, notifications, small result sets). get resolves an
// attribute path of the Entity: it is called with Path.Trail nil and must
// return the target value(s) as decoded JSON (string, float64, bool, nil,
// map[string]any, []any), one per attribute instance, and ok=false when
// the attribute or sub-attribute does not exist. Eval walks Trail itself.
// The semantics are listed in the package documentation. A nil or foreign
// Expr matches nothing.
func Eval(e Expr, get func(p Path) (vals []any, ok bool)) bool {
	switch e := e.(type) {
	case And:
		return Eval(e.L, get) && Eval(e.R, get)
	case Or:
		return Eval(e.L, get) || Eval(e.R, get)
	case Term:
		return e.eval(get)
	case *And:
		return e != nil && Eval(*e, get)
	case *Or:
		return e != nil && Eval(*e, get)
	case *Term:
		return e != nil && e.eval(get)
	}
	return false
}

func (t *Term) eval(get func(Path) ([]any, bool)) bool {
	vals, ok := get(Path{Attr: t.Path.Attr, Sub: t.Path.Sub})
	if !ok {
		return false
	}
	if len(t.Path.Trail) > 0 {
		vals = walk(vals, t.Path.Trail)
		if len(vals) == 0 {
			return false // clause 4.9: an undefined member is a non-existent target
		}
	}
	switch t.Op {
	case "":
		return true
	case "!=":
		return !t.any(vals, "==")
	case "!~=":
		if t.Regexp == nil {
			return false
		}
		sawString := false
		for _, v := range vals {
			if arr, ok := v.([]any); ok {
				for _, c := range arr {
					if s, ok := c.(string); ok {
						if t.Regexp.MatchString(s) {
							return false
						}
						sawString = true
					}
				}
			} else if s, ok := v.(string); ok {
				if t.Regexp.MatchString(s) {
					return false
				}
				sawString = true
			}
		}
		return sawString
	}
	return t.any(vals, t.Op)
}

// any reports whether some candidate (a value, or an element of an array
// value) matches op.
func (t *Term) any(vals []any, op string) bool {
	for _, v := range vals {
		if arr, ok := v.([]any); ok {
			for _, c := range arr {
				if t.match(op, c) {
					return true
				}
			}
		} else if t.match(op, v) {
			return true
		}
	}
	return false
}

// match applies a positive operator to one candidate.
func (t *Term) match(op string, c any) bool {
	switch op {
	case "==":
		switch {
		case t.Range != nil:
			lo, ok1 := compare(t.Range[0], c)
			hi, ok2 := compare(t.Range[1], c)
			return ok1 && ok2 && lo >= 0 && hi <= 0
		case t.List != nil:
			for _, v := range t.List {
				if r, ok := compare(v, c); ok && r == 0 {
					return true
				}
			}
			return false
		}
		r, ok := compare(t.Value, c)
		return ok && r == 0
	case ">":
		r, ok := compare(t.Value, c)
		return ok && r > 0
	case ">=":
		r, ok := compare(t.Value, c)
		return ok && r >= 0
	case "<":
		r, ok := compare(t.Value, c)
		return ok && r < 0
	case "<=":
		r, ok := compare(t.Value, c)
		return ok && r <= 0
	case "~=":
		s, ok := c.(string)
		return ok && t.Regexp != nil && t.Regexp.MatchString(s)
	}
	return false
}

// compare orders the candidate c relative to the query value v (-1 if
// c < v, 0 if equal, +1 if c > v); ok is false when the types differ.
func compare(v Value, c any) (int, bool) {
	switch v.Kind {
	case Number:
		f, ok := toFloat(c)
		if !ok {
			return 0, false
		}
		switch {
		case f < v.N:
			return -1, true
		case f > v.N:
			return 1, true
		case f == v.N:
			return 0, true
		}
		return 0, false // NaN
	case String, URI:
		s, ok := c.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(s, v.S), true
	case Bool:
		b, ok := c.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case b == v.B:
			return 0, true
		case b:
			return 1, true
		}
		return -1, true
	case DateTime, Date, Time:
		s, ok := c.(string)
		if !ok {
			return 0, false
		}
		var t time.Time
		switch v.Kind {
		case DateTime:
			t, ok = parseDateTime(s, 9)
			if !ok {
				var err error
				t, err = time.Parse(time.RFC3339Nano, s)
				ok = err == nil
			}
		case Date:
			t, ok = parseDate(s)
		case Time:
			t, ok = parseTime(s, 9)
		}
		if !ok {
			return 0, false
		}
		return t.Compare(v.T), true
	}
	return 0, false
}

func toFloat(c any) (float64, bool) {
	switch n := c.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// walk applies a trailing path to each value as an ECMA-262 member
// expression on JSON objects; "*" selects every member.
func walk(vals []any, trail []string) []any {
	cur := vals
	for _, seg := range trail {
		var next []any
		for _, v := range cur {
			m, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if seg == "*" {
				for _, x := range m {
					next = append(next, x)
				}
			} else if x, ok := m[seg]; ok {
				next = append(next, x)
			}
		}
		cur = next
	}
	return cur
}

// Attrs lists the distinct top-level attribute names e refers to, in
// order of first appearance, so storage can pick indexes or fetch only
// those attributes before calling Eval.
func Attrs(e Expr) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(Expr)
	visit = func(e Expr) {
		switch e := e.(type) {
		case And:
			visit(e.L)
			visit(e.R)
		case Or:
			visit(e.L)
			visit(e.R)
		case Term:
			if !seen[e.Path.Attr] {
				seen[e.Path.Attr] = true
				out = append(out, e.Path.Attr)
			}
		case *And:
			if e != nil {
				visit(*e)
			}
		case *Or:
			if e != nil {
				visit(*e)
			}
		case *Term:
			if e != nil {
				visit(*e)
			}
		}
	}
	visit(e)
	return out
}
