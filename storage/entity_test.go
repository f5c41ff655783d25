package storage_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

const (
	aqType = "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
	pm25   = "https://smartdatamodels.org/dataModel.Environment/pm25"
	no2    = "https://smartdatamodels.org/dataModel.Environment/no2"
)

func prop(v any, at string) cityops.Attr {
	a := cityops.Attr{"type": "Property", "value": v, "unitCode": "GQ"}
	if at != "" {
		a["observedAt"] = at
	}
	return a
}

func station(id string, pm float64, at string) *cityops.Entity {
	return &cityops.Entity{ID: id, Type: aqType, Attrs: map[string][]cityops.Attr{
		pm25:                 {prop(pm, at)},
		cityops.LocationAttr: {{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{107.58, 16.47}}}},
	}}
}

func TestEntities(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		e := station("urn:ngsi-ld:AirQualityObserved:hue-dong-ba", 35.5, "2026-05-01T07:55:00Z")
		if err := db.CreateEntity(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEntity(ctx, station(e.ID, 1, "")); cityops.ErrorCode(err) != cityops.ECONFLICT {
			t.Fatalf("second create: %v; want conflict (AlreadyExists)", err)
		}
		// Bad shapes are refused with the attribute named.
		for _, bad := range []*cityops.Entity{
			{ID: "not a uri", Type: aqType},
			{ID: "urn:x:1", Type: ""},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {{"type": "Property"}}}},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {{"type": "Relationship", "object": "nope"}}}},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {{"type": "GeoProperty", "value": map[string]any{"type": "Circle"}}}}},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {{"type": "Property", "value": 1, "observedAt": "yesterday"}}}},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {prop(1, ""), prop(2, "")}}},
			{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {{"type": "Property", "value": 1, "accuracy": 3}}}},
		} {
			if err := db.CreateEntity(ctx, bad); cityops.ErrorCode(err) != cityops.EINVALID {
				t.Errorf("create %+v: %v; want invalid", bad, err)
			}
		}
		got, err := db.FindEntity(ctx, "", e.ID)
		if err != nil || got.Attrs[pm25][0]["value"] != 35.5 || got.Type != aqType {
			t.Fatalf("find = %+v, %v", got, err)
		}
		if _, err := db.FindEntity(ctx, "other-tenant", e.ID); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("another tenant sees the entity: %v", err)
		}

		// Append (with and without overwrite), update, delete an attribute.
		now = now.Add(time.Minute)
		skipped, err := db.AppendAttrs(ctx, "", e.ID, map[string][]cityops.Attr{pm25: {prop(50.0, "2026-05-01T08:00:00Z")}, no2: {prop(20.0, "")}}, true)
		if err != nil || len(skipped) != 1 || skipped[0] != pm25 {
			t.Fatalf("append noOverwrite: skipped %v, %v", skipped, err)
		}
		skipped, err = db.UpdateAttrs(ctx, "", e.ID, map[string][]cityops.Attr{pm25: {prop(40.0, "2026-05-01T08:01:00Z")}, "urn:x:missing": {prop(1, "")}})
		if err != nil || len(skipped) != 1 {
			t.Fatalf("update: skipped %v, %v", skipped, err)
		}
		got, _ = db.FindEntity(ctx, "", e.ID)
		if got.Attrs[pm25][0]["value"] != 40.0 || got.Attrs[no2] == nil || !got.ModifiedAt.Equal(now) {
			t.Fatalf("after append/update = %+v", got.Attrs)
		}
		// A second instance with a datasetId sits beside the default one.
		if _, err := db.AppendAttrs(ctx, "", e.ID, map[string][]cityops.Attr{pm25: {{"type": "Property", "value": 41.0, "datasetId": "urn:ngsi-ld:Dataset:sensor-b"}}}, false); err != nil {
			t.Fatal(err)
		}
		got, _ = db.FindEntity(ctx, "", e.ID)
		if len(got.Attrs[pm25]) != 2 {
			t.Fatalf("instances = %v", got.Attrs[pm25])
		}
		if err := db.DeleteAttr(ctx, "", e.ID, pm25, "urn:ngsi-ld:Dataset:sensor-b", false); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteAttr(ctx, "", e.ID, "urn:x:missing", "", true); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("delete a missing attribute: %v", err)
		}

		// History: every written instance, by observation time.
		h, err := db.History(ctx, "", e.ID, pm25, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 100, false)
		if err != nil || len(h) != 3 || h[0].Value["value"] != 35.5 || h[1].Value["value"] != 40.0 {
			t.Fatalf("history = %+v, %v", h, err)
		}
		last, _ := db.History(ctx, "", e.ID, pm25, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 1, true)
		if len(last) != 1 || last[0].Value["value"] != 41.0 {
			t.Fatalf("lastN=1 = %+v", last)
		}

		// Replace keeps the type.
		r := station(e.ID, 12, "")
		if err := db.ReplaceEntity(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, _ = db.FindEntity(ctx, "", e.ID)
		if got.Attrs[no2] != nil || got.Attrs[pm25][0]["value"] != 12.0 {
			t.Errorf("after replace = %v", got.Attrs)
		}
		r.Type = "urn:other"
		if err := db.ReplaceEntity(ctx, r); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("replace with another type: %v", err)
		}

		// Batch upsert: good ones stored, a bad one reported alone.
		list := []*cityops.Entity{station("urn:ngsi-ld:AirQualityObserved:hue-2", 5, ""), station("urn:ngsi-ld:AirQualityObserved:hue-3", 6, ""),
			{ID: "bad id", Type: aqType}, station(e.ID, 99, "")}
		errs, err := db.UpsertEntities(ctx, "", list, false)
		if err != nil || len(errs) != 1 || errs["bad id"] == nil {
			t.Fatalf("upsert errs = %v, %v", errs, err)
		}
		all, total, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{aqType}, Limit: 2, Count: true})
		if err != nil || total != 3 || len(all) != 2 {
			t.Fatalf("by type = %d of %d, %v", len(all), total, err)
		}
		matched, total, _ := db.FindEntities(ctx, cityops.EntityFilter{IDPattern: regexp.MustCompile(`hue-[23]$`), Attrs: []string{pm25}})
		if total != 2 || len(matched[0].Attrs) != 1 {
			t.Fatalf("idPattern = %d, attrs %v", total, matched[0].Attrs)
		}
		if err := db.DeleteEntity(ctx, "", e.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteEntity(ctx, "", e.ID); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("delete twice: %v", err)
		}
	})
}

func TestDeviceSilence(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		sys := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
		now := time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		for _, id := range []string{"a", "b"} {
			dev := &cityops.Device{ID: id, Key: "hue", EntityID: "urn:ngsi-ld:Thing:" + id, EntityType: "Thing",
				Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}
			if err := db.CreateDevice(sys, dev); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(10 * time.Minute)
		if err := db.Measure(sys, "hue", "a", map[string]any{"v": 1.0}, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(10 * time.Minute)
		if n, err := db.MarkSilentDevices(sys, 15*time.Minute); err != nil || n != 1 {
			t.Fatalf("marked %d, %v; want b only (a spoke 10 minutes ago)", n, err)
		}
		if n, _ := db.MarkSilentDevices(sys, 15*time.Minute); n != 0 {
			t.Fatalf("marked again: %d", n)
		}
		devs, _ := db.FindDevices(sys)
		if devs[0].NotObservedSince != nil || devs[1].NotObservedSince == nil {
			t.Fatalf("devices = %+v %+v", devs[0], devs[1])
		}
		if err := db.Measure(sys, "hue", "b", map[string]any{"v": 2.0}, now); err != nil {
			t.Fatal(err)
		}
		devs, _ = db.FindDevices(sys)
		if devs[1].NotObservedSince != nil {
			t.Errorf("a measurement did not clear the condition")
		}
	})
}

// TestBatchAfterOtherWrites: batches that follow writes of the same
// entity by other paths (append, delete of an attribute, deletion of the
// entity) start from what those wrote, not from what an earlier batch
// wrote (which SQLite's ingesting process keeps in memory).
func TestBatchAfterOtherWrites(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		const id = "urn:ngsi-ld:AirQualityObserved:cache"
		ingest := func(v float64, at string) {
			t.Helper()
			if errs, err := db.IngestEntities(ctx, "", []*cityops.Entity{station(id, v, at)}); err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
		}
		check := func(step string, pm float64, hasNO2 bool) *cityops.Entity {
			t.Helper()
			e, err := db.FindEntity(ctx, "", id)
			if err != nil {
				t.Fatal(step, err)
			}
			if got := e.Attrs[pm25][0]["value"]; got != pm {
				t.Errorf("%s: pm25 = %v, want %v", step, got, pm)
			}
			if _, ok := e.Attrs[no2]; ok != hasNO2 {
				t.Errorf("%s: has no2 = %v, want %v", step, ok, hasNO2)
			}
			return e
		}
		ingest(1, "2026-01-01T00:00:00Z")
		if _, err := db.AppendAttrs(ctx, "", id, map[string][]cityops.Attr{no2: {prop(2.0, "2026-01-01T00:00:30Z")}}, false); err != nil {
			t.Fatal(err)
		}
		ingest(3, "2026-01-01T00:01:00Z")
		check("a batch after an append", 3, true)
		if err := db.DeleteAttr(ctx, "", id, no2, "", true); err != nil {
			t.Fatal(err)
		}
		ingest(4, "2026-01-01T00:02:00Z")
		first := check("a batch after deleting an attribute", 4, false)
		if err := db.DeleteEntity(ctx, "", id); err != nil {
			t.Fatal(err)
		}
		db.Now = func() time.Time { return first.CreatedAt.Add(time.Hour) }
		ingest(5, "2026-01-01T00:03:00Z")
		again := check("a batch after deleting the entity", 5, false)
		if !again.CreatedAt.After(first.CreatedAt) {
			t.Errorf("the entity written after its deletion was created at %v, not after the first (%v)", again.CreatedAt, first.CreatedAt)
		}
		if n := len(again.Attrs); n != 2 {
			t.Errorf("the entity written after its deletion has %d attributes, want pm25 and location: %v", n, again.Attrs)
		}
	})
}
