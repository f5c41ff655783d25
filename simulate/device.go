package simulate

import (
	"sort"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// Device returns the sensor that would send e's measurements over MQTT in
// the manner of an IoT Agent JSON device, under the service key key: its
// id is the entity id without "urn:ngsi-ld:", and it maps each measured
// attribute (one with observedAt and a plain value) by its short name to
// the entity's attribute, names expanded with the core context as
// ToEntity does. ok is false when e measures nothing.
func Device(e Entity, key string) (dev cityops.Device, ok bool) {
	c := jsonld.Core()
	id, _ := e["id"].(string)
	typ, _ := e["type"].(string)
	dev = cityops.Device{ID: strings.TrimPrefix(id, "urn:ngsi-ld:"), Key: key, EntityID: id, EntityType: c.ExpandTerm(typ)}
	for _, name := range measuredNames(e) {
		m := e[name].(map[string]any)
		unit, _ := m["unitCode"].(string)
		dev.Attrs = append(dev.Attrs, cityops.DeviceAttr{ObjectID: name, Name: c.ExpandTerm(name), UnitCode: unit})
	}
	return dev, len(dev.Attrs) > 0
}

// Measurement returns e's measured values as its Device publishes them:
// short name → value, and the observation time as TimeInstant.
func Measurement(e Entity) map[string]any {
	out := map[string]any{}
	for _, name := range measuredNames(e) {
		m := e[name].(map[string]any)
		out[name] = m["value"]
		out["TimeInstant"] = m["observedAt"]
	}
	return out
}

// measuredNames returns the names of e's measured attributes, sorted.
func measuredNames(e Entity) []string {
	var names []string
	for k, v := range e {
		m, ok := v.(map[string]any)
		if !ok || m["type"] != "Property" {
			continue
		}
		if _, ok := m["observedAt"].(string); !ok {
			continue
		}
		switch m["value"].(type) {
		case string, bool, int, float64:
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
