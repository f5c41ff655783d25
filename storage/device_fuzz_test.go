package storage

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// FuzzMeasuredEntity maps MQTT payloads onto a device's entity as
// MeasureBatch does: a payload is refused as EINVALID, or it gives a
// valid entity whose attributes hold the mapped measurements as sent,
// observed at the message's time.
func FuzzMeasuredEntity(f *testing.F) {
	for _, s := range [][2]string{
		{`{"t": 21.5, "h": 60, "x": 1}`, "2026-11-28T01:00:00Z"},
		{`{"t": [1, 2], "loc": {"type": "Point", "coordinates": [107.58, 16.46]}, "on": true}`, ""},
		{`{"t": null, "h": "dry"}`, "2026-11-28T08:00:00.123456789+07:00"},
		{`{"t": {"value": 1, "nested": {"a": null}}}`, "0000-01-01T00:00:00+01:00"},
		{`{"x": 1}`, ""},
		{`{}`, "9999-12-31T23:59:59-01:00"},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	dev := &cityops.Device{ID: "aq-01", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:hue-1", EntityType: "https://smartdatamodels.org/AirQualityObserved",
		Tenant: "t1", Attrs: []cityops.DeviceAttr{{ObjectID: "t", Name: "https://smartdatamodels.org/temperature", UnitCode: "CEL"},
			{ObjectID: "h", Name: "https://smartdatamodels.org/relativeHumidity"}, {ObjectID: "on", Name: "https://e.example/on"}}}
	now := time.Date(2026, 11, 28, 1, 2, 3, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte, instant string) {
		var p map[string]any
		if json.Unmarshal(payload, &p) != nil || p == nil {
			return // the MQTT parser refuses it
		}
		at, err := time.Parse(time.RFC3339Nano, instant)
		if err != nil {
			at = now
		}
		e, err := measuredEntity(dev, cityops.Measurement{Key: dev.Key, DeviceID: dev.ID, Payload: p, At: at})
		if err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("measuredEntity: %v; want EINVALID, which counts the message as rejected, not dropped", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("mapped entity does not validate: %v", err)
		}
		if e.ID != dev.EntityID || e.Type != dev.EntityType || e.Tenant != dev.Tenant {
			t.Fatalf("entity %s %s of %q", e.ID, e.Type, e.Tenant)
		}
		mapped := 0
		for _, a := range dev.Attrs {
			v, ok := p[a.ObjectID]
			list := e.Attrs[a.Name]
			if !ok || v == nil {
				if list != nil {
					t.Fatalf("%s written from a missing or null measurement", a.Name)
				}
				continue
			}
			mapped++
			if len(list) != 1 || !reflect.DeepEqual(list[0]["value"], v) {
				t.Fatalf("%s = %v; want %v", a.Name, list, v)
			}
			if got, ok := list[0].ObservedAt(); !ok || !got.Equal(at) {
				t.Fatalf("%s observed at %v; want %v", a.Name, list[0]["observedAt"], at)
			}
			if a.UnitCode != "" && list[0]["unitCode"] != a.UnitCode {
				t.Fatalf("%s without its unit", a.Name)
			}
		}
		if mapped != len(e.Attrs) {
			t.Fatalf("%d attributes from %d measurements", len(e.Attrs), mapped)
		}
	})
}
