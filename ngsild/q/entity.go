package q

import "github.com/cityops/cityops"

// EntityGetter gives Eval an entity's values by attribute path; expand
// turns the query's short names into the entity's expanded ones.
func EntityGetter(e *cityops.Entity, expand func(string) string) func(p Path) ([]any, bool) {
	return func(p Path) ([]any, bool) {
		list, ok := e.Attrs[expand(p.Attr)]
		if !ok {
			return nil, false
		}
		var vals []any
		for _, a := range list {
			var cur any = map[string]any(a)
			for _, sub := range p.Sub {
				m, _ := cur.(map[string]any)
				cur = m[expand(sub)]
			}
			m, _ := cur.(map[string]any)
			var v any
			if o, ok := m["object"]; ok {
				v = o
			} else {
				v = m["value"]
			}
			for _, key := range p.Trail {
				mm, _ := v.(map[string]any)
				v = mm[key]
			}
			if v != nil {
				vals = append(vals, v)
			}
		}
		return vals, len(vals) > 0
	}
}
