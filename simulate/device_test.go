package simulate

import (
	"encoding/json"
	"sort"
	"testing"
	"time"
)

// TestDevice checks that every site's device is valid and maps its
// measurements onto attributes the stored entity has, with the same type,
// so that MQTT measurements land where the NGSI-LD upsert put them.
func TestDevice(t *testing.T) {
	g := mustNew(t, 1, HueSites(), Options{})
	measured := 0
	for _, e := range g.At(at(2026, time.November, 28, 9, 0)) {
		dev, ok := Device(e, "hue")
		if !ok {
			continue
		}
		measured++
		if err := dev.Validate(); err != nil {
			t.Errorf("%s: %v", dev.ID, err)
			continue
		}
		stored, err := ToEntity(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dev.EntityID != stored.ID || dev.EntityType != stored.Type {
			t.Errorf("%s feeds %s %s, want %s %s", dev.ID, dev.EntityType, dev.EntityID, stored.Type, stored.ID)
		}
		m := Measurement(e)
		var keys []string
		for k := range m {
			if k != "TimeInstant" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) != len(dev.Attrs) {
			t.Errorf("%s: payload keys %v, device maps %d", dev.ID, keys, len(dev.Attrs))
		}
		for i, a := range dev.Attrs {
			if keys[i] != a.ObjectID {
				t.Errorf("%s: payload key %s, device maps %s", dev.ID, keys[i], a.ObjectID)
			}
			inst := stored.Attrs[a.Name]
			if len(inst) != 1 {
				t.Errorf("%s: the entity has no attribute %s", dev.ID, a.Name)
				continue
			}
			// The value as it travels: through JSON.
			b, _ := json.Marshal(m[a.ObjectID])
			var v any
			json.Unmarshal(b, &v)
			if inst[0]["value"] != v || inst[0]["observedAt"] != m["TimeInstant"] {
				t.Errorf("%s %s: payload %v at %v, entity %v", dev.ID, a.ObjectID, v, m["TimeInstant"], inst[0])
			}
			if u, _ := inst[0]["unitCode"].(string); u != a.UnitCode {
				t.Errorf("%s %s: unit %q, entity %q", dev.ID, a.ObjectID, a.UnitCode, u)
			}
		}
	}
	if measured < 20 {
		t.Errorf("only %d sites measure anything", measured)
	}
}
