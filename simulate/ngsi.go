package simulate

import (
	"encoding/json"
	"fmt"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// ToEntity turns a generated entity into the stored form, its names
// expanded with the context c (the core context when nil), as the
// NGSI-LD API would on receiving it.
func ToEntity(e Entity, c *jsonld.Context) (*cityops.Entity, error) {
	if c == nil {
		c = jsonld.Core()
	}
	// Through JSON, so that values have the types a request body gives
	// (float64, []any, map[string]any) whatever the generator used.
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("entity: %w", err)
	}
	e = nil
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("entity: %w", err)
	}
	id, _ := e["id"].(string)
	typ, _ := e["type"].(string)
	out := &cityops.Entity{ID: id, Type: c.ExpandTerm(typ), Attrs: map[string][]cityops.Attr{}}
	for k, v := range e {
		if k == "id" || k == "type" || k == "@context" {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entity %s: attribute %s is not an object", id, k)
		}
		out.Attrs[c.ExpandTerm(k)] = []cityops.Attr{expand(m, c)}
	}
	return out, out.Validate()
}

var coreKeys = map[string]bool{"type": true, "value": true, "object": true, "observedAt": true, "unitCode": true,
	"datasetId": true, "languageMap": true}

func expand(m map[string]any, c *jsonld.Context) cityops.Attr {
	a := cityops.Attr{}
	for k, v := range m {
		if coreKeys[k] {
			a[k] = v
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			a[c.ExpandTerm(k)] = map[string]any(expand(sub, c))
			continue
		}
		a[c.ExpandTerm(k)] = v
	}
	return a
}
