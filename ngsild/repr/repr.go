// Package repr renders NGSI-LD attribute instances in the representations
// clients ask for — normalized, keyValues (simplified) and concise (GS CIM
// 009 clause 4.5) — with names compacted by a JSON-LD context. The API and
// the subscription notifier share it, so that an entity reads the same in
// an answer and in a notification.
package repr

import (
	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// Attr renders an instance: normalized (as stored, sub-attribute names
// compacted), keyValues (the value alone) or concise (no "type", and a
// Property or GeoProperty with nothing but a value is that value). format
// is one of cityops.FormatNormalized (or ""), FormatKeyValues and
// FormatConcise.
func Attr(a map[string]any, c *jsonld.Context, format string) any {
	if format == cityops.FormatKeyValues {
		if o, ok := a["object"]; ok {
			return o
		}
		if v, ok := a["value"]; ok {
			return v
		}
		return a["languageMap"]
	}
	out := make(map[string]any, len(a))
	for k, v := range a {
		if cityops.AttrMembers[k] {
			out[k] = v
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			out[c.CompactIRI(k)] = Attr(sub, c, format)
			continue
		}
		out[c.CompactIRI(k)] = v
	}
	if format != cityops.FormatConcise {
		return out
	}
	kind, _ := out["type"].(string)
	delete(out, "type")
	if len(out) == 1 && (kind == cityops.KindProperty || kind == cityops.KindGeoProperty) {
		if v, ok := out["value"]; ok {
			// A JSON object stays wrapped, or it would read as an
			// attribute; a GeoJSON geometry is recognised as such.
			if _, isObj := v.(map[string]any); !isObj || kind == cityops.KindGeoProperty {
				return v
			}
		}
	}
	return out
}
