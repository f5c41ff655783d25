package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestMeasureBatch writes one batch mixing good messages, several for one
// entity, with an unknown device, an unmapped payload and a device whose
// entity has another type: the bad ones are refused one by one and the
// rest is stored, every measurement in history.
func TestMeasureBatch(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
		now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		for _, dev := range []*cityops.Device{
			{ID: "aq-1", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:aq-1", EntityType: aqType,
				Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: pm25, UnitCode: "GQ"}, {ObjectID: "n", Name: no2}}},
			{ID: "aq-2", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:aq-2", EntityType: aqType,
				Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: pm25}}},
			// Feeds aq-1's entity under another type: always refused.
			{ID: "wrong", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:aq-1", EntityType: "Thing",
				Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: pm25}}},
		} {
			if err := db.CreateDevice(sys, dev); err != nil {
				t.Fatal(err)
			}
		}
		at := func(min int) time.Time { return time.Date(2026, 11, 28, 1, min, 0, 0, time.UTC) }
		list := []cityops.Measurement{
			{Key: "hue", DeviceID: "aq-1", Payload: map[string]any{"p": 40.0, "n": 10.0}, At: at(0)},
			{Key: "hue", DeviceID: "ghost", Payload: map[string]any{"p": 1.0}, At: at(0)},
			{Key: "hue", DeviceID: "aq-2", Payload: map[string]any{"p": 7.0}, At: at(0)},
			{Key: "hue", DeviceID: "aq-1", Payload: map[string]any{"x": 1.0}, At: at(1)},
			{Key: "hue", DeviceID: "wrong", Payload: map[string]any{"p": 99.0}, At: at(1)},
			{Key: "hue", DeviceID: "aq-1", Payload: map[string]any{"p": 41.0}, At: at(1)},
			{Key: "hue", DeviceID: "aq-1", Payload: map[string]any{"p": 42.0, "n": 12.0}, At: at(2)},
		}
		var changed []string
		db.OnEntityChange(func(list []cityops.EntityChange) {
			for _, c := range list {
				changed = append(changed, c.ID)
			}
		})
		errs, err := db.MeasureBatch(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		// Listeners hear of each entity written, once for the batch, and
		// only of them.
		if fmt.Sprint(changed) != "[urn:ngsi-ld:AirQualityObserved:aq-1 urn:ngsi-ld:AirQualityObserved:aq-2]" {
			t.Errorf("changes = %v", changed)
		}
		want := []string{"", cityops.ENOTFOUND, "", cityops.EINVALID, cityops.EINVALID, "", ""}
		if len(errs) != len(want) {
			t.Fatalf("got %d errors, want %d", len(errs), len(want))
		}
		for i := range want {
			if got := cityops.ErrorCode(errs[i]); got != want[i] {
				t.Errorf("message %d: got %q (%v), want %q", i, got, errs[i], want[i])
			}
		}

		e, err := db.FindEntity(ctx, "", "urn:ngsi-ld:AirQualityObserved:aq-1")
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Attrs[pm25][0]; got["value"] != 42.0 || got["unitCode"] != "GQ" || got["observedAt"] != "2026-11-28T01:02:00Z" {
			t.Errorf("current pm25 = %v, want the batch's last", got)
		}
		h, err := db.History(ctx, "", e.ID, pm25, at(0), at(10), 10, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range h {
			got = append(got, fmt.Sprintf("%s=%v", in.ObservedAt.Format("15:04"), in.Value["value"]))
		}
		if fmt.Sprint(got) != "[01:00=40 01:01=41 01:02=42]" {
			t.Errorf("pm25 history = %v, want all three of the batch", got)
		}
		if h, _ := db.History(ctx, "", e.ID, no2, at(0), at(10), 10, false); len(h) != 2 {
			t.Errorf("no2 history has %d instances, want 2", len(h))
		}
		if h, _ := db.History(ctx, "", "urn:ngsi-ld:AirQualityObserved:aq-2", pm25, at(0), at(10), 10, false); len(h) != 1 {
			t.Errorf("aq-2 history has %d instances, want 1", len(h))
		}

		devs, err := db.FindDevices(sys)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range devs {
			heard := d.LastSeenAt != nil && d.LastSeenAt.Equal(now)
			if heard != (d.ID != "wrong") {
				t.Errorf("device %s last seen %v", d.ID, d.LastSeenAt)
			}
		}

		// Measure is a batch of one, with the same errors.
		if err := db.Measure(ctx, "hue", "ghost", map[string]any{"p": 1.0}, now); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("Measure of an unknown device: %v", err)
		}
		if err := db.Measure(ctx, "hue", "aq-2", map[string]any{"p": 8.0}, now); err != nil {
			t.Errorf("Measure: %v", err)
		}
		// An empty batch, and one with nothing to write, touch nothing.
		if errs, err := db.MeasureBatch(ctx, nil); err != nil || len(errs) != 0 {
			t.Errorf("empty batch: %v, %v", errs, err)
		}
	})
}

// TestMeasureBatchManyDevices crosses the per-query limit of the device
// look-up.
func TestMeasureBatchManyDevices(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
		const n = 600
		var list []cityops.Measurement
		for i := range n {
			id := fmt.Sprintf("d%03d", i)
			if err := db.CreateDevice(sys, &cityops.Device{ID: id, Key: "k", EntityID: "urn:ngsi-ld:Thing:" + id, EntityType: "Thing",
				Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}); err != nil {
				t.Fatal(err)
			}
			list = append(list, cityops.Measurement{Key: "k", DeviceID: id, Payload: map[string]any{"v": float64(i)}, At: time.Now()})
		}
		errs, err := db.MeasureBatch(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		devs, _ := db.FindDevices(sys)
		for _, d := range devs {
			if d.LastSeenAt == nil {
				t.Fatalf("device %s not marked heard", d.ID)
			}
		}
	})
}

// BenchmarkMeasureBatch is the MQTT ingestion write, in two shapes:
// batches of 500 messages of two measurements over 1,000 devices, and
// the shape of cityops-iocload's alarm scenario at 20,000 readings/s
// (batches of 5,000 messages of four measurements over 2,000 devices, a
// second of messages each), where a batch holds two or three messages
// of every device. Each device feeds one entity; every measurement is
// kept in history. It reports messages and readings per second.
func BenchmarkMeasureBatch(b *testing.B) {
	shapes := []struct {
		devices, attrs, batch int
		step                  time.Duration
	}{{1000, 2, 500, time.Millisecond}, {2000, 4, 5000, 200 * time.Microsecond}}
	names := []string{pm25, no2, "https://smartdatamodels.org/dataModel.Environment/pm10", "https://smartdatamodels.org/dataModel.Environment/o3"}
	for _, dialect := range storagetest.Dialects() {
		for _, sh := range shapes {
			b.Run(fmt.Sprintf("%s/devices=%d,attrs=%d,batch=%d", dialect, sh.devices, sh.attrs, sh.batch), func(b *testing.B) {
				db := storagetest.Open(b, dialect)
				ctx := context.Background()
				sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
				var attrs []cityops.DeviceAttr
				for a := range sh.attrs {
					attrs = append(attrs, cityops.DeviceAttr{ObjectID: fmt.Sprint(a), Name: names[a], UnitCode: "GQ"})
				}
				for i := range sh.devices {
					if err := db.CreateDevice(sys, &cityops.Device{ID: fmt.Sprintf("d%04d", i), Key: "k",
						EntityID: fmt.Sprintf("urn:ngsi-ld:AirQualityObserved:hue-%04d", i), EntityType: aqType, Attrs: attrs}); err != nil {
						b.Fatal(err)
					}
				}
				t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
				batch := make([]cityops.Measurement, sh.batch)
				n := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for i := range batch {
						payload := make(map[string]any, sh.attrs)
						for a := range sh.attrs {
							payload[fmt.Sprint(a)] = float64((n + 7*a) % 90)
						}
						batch[i] = cityops.Measurement{Key: "k", DeviceID: fmt.Sprintf("d%04d", n%sh.devices),
							Payload: payload, At: t0.Add(time.Duration(n) * sh.step)}
						n++
					}
					errs, err := db.MeasureBatch(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(n*sh.attrs)/b.Elapsed().Seconds(), "readings/s")
			})
		}
	}
}

// TestMeasureDeletedDevice: a device deleted after its messages were
// taken (and, on SQLite, the device kept in memory) is refused at once,
// and one created again under the same name is used with its new
// mapping.
func TestMeasureDeletedDevice(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
		dev := func(name string) *cityops.Device {
			return &cityops.Device{ID: "aq-9", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:aq-9", EntityType: aqType,
				Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: name}}}
		}
		if err := db.CreateDevice(sys, dev(pm25)); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
		if err := db.Measure(ctx, "hue", "aq-9", map[string]any{"p": 5.0}, at); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteDevice(sys, "hue", "aq-9"); err != nil {
			t.Fatal(err)
		}
		if err := db.Measure(ctx, "hue", "aq-9", map[string]any{"p": 6.0}, at.Add(time.Minute)); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("a message of the deleted device: %v, want not found", err)
		}
		if err := db.CreateDevice(sys, dev(no2)); err != nil {
			t.Fatal(err)
		}
		if err := db.Measure(ctx, "hue", "aq-9", map[string]any{"p": 7.0}, at.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		e, err := db.FindEntity(ctx, "", "urn:ngsi-ld:AirQualityObserved:aq-9")
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Attrs[no2]; len(got) != 1 || got[0]["value"] != 7.0 {
			t.Errorf("after the device was created again with another mapping, %s = %v, want 7", no2, got)
		}
		if got := e.Attrs[pm25]; len(got) != 1 || got[0]["value"] != 5.0 {
			t.Errorf("%s = %v, want the first message's 5 (the deleted device's second message refused)", pm25, got)
		}
	})
}

// TestPreviewMeasurement: in the process that ingests into SQLite, a
// measurement of a device and entity already written once is shown to
// the preview listeners before it is written, as the change its write
// makes, and its committed change is then marked previewed; a device not
// yet in memory, and PostgreSQL, are not previewed.
func TestPreviewMeasurement(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
		for _, id := range []string{"aq-p", "aq-q"} {
			if err := db.CreateDevice(sys, &cityops.Device{ID: id, Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:" + id, EntityType: aqType,
				Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: pm25}, {ObjectID: "n", Name: no2}}}); err != nil {
				t.Fatal(err)
			}
		}
		var previews, committed []cityops.EntityChange
		db.OnMeasurePreview(func(l []cityops.EntityChange) { previews = append(previews, l...) })
		db.OnEntityChange(func(l []cityops.EntityChange) { committed = append(committed, l...) })
		at := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
		first := cityops.Measurement{Key: "hue", DeviceID: "aq-p", Payload: map[string]any{"p": 10.0, "n": 3.0}, At: at}
		db.PreviewMeasurement(&first)
		if first.Previewed || len(previews) != 0 {
			t.Fatalf("the first message of a device was previewed (%v, %d previews): nothing of it is in memory yet", first.Previewed, len(previews))
		}
		if _, err := db.MeasureBatch(ctx, []cityops.Measurement{first}); err != nil {
			t.Fatal(err)
		}
		next := cityops.Measurement{Key: "hue", DeviceID: "aq-p", Payload: map[string]any{"p": 20.0}, At: at.Add(time.Minute)}
		other := cityops.Measurement{Key: "hue", DeviceID: "aq-q", Payload: map[string]any{"p": 1.0}, At: at.Add(time.Minute)}
		db.PreviewMeasurement(&next)
		db.PreviewMeasurement(&other)
		if db.Dialect() == storage.Postgres {
			if next.Previewed || len(previews) != 0 {
				t.Fatalf("PostgreSQL previewed a measurement")
			}
			return
		}
		if !next.Previewed || other.Previewed || len(previews) != 1 {
			t.Fatalf("previewed: next %v, other (device never written) %v, %d previews; want true, false, 1", next.Previewed, other.Previewed, len(previews))
		}
		p := previews[0]
		if p.ID != "urn:ngsi-ld:AirQualityObserved:aq-p" || fmt.Sprint(p.Attrs) != "["+pm25+"]" {
			t.Errorf("preview of %s writing %v", p.ID, p.Attrs)
		}
		// The entity as the write leaves it: the new pm25, the stored no2.
		if v, _ := p.Entity.Attrs[pm25][0].Number(); v != 20 {
			t.Errorf("preview pm25 = %v, want 20", p.Entity.Attrs[pm25])
		}
		if v, _ := p.Entity.Attrs[no2][0].Number(); v != 3 {
			t.Errorf("preview no2 = %v, want the stored 3", p.Entity.Attrs[no2])
		}
		committed = nil
		if _, err := db.MeasureBatch(ctx, []cityops.Measurement{next, other}); err != nil {
			t.Fatal(err)
		}
		flags := map[string]bool{}
		for _, c := range committed {
			flags[c.ID] = c.Previewed
		}
		if !flags["urn:ngsi-ld:AirQualityObserved:aq-p"] || flags["urn:ngsi-ld:AirQualityObserved:aq-q"] || len(flags) != 2 {
			t.Errorf("committed changes previewed: %v; want aq-p only", flags)
		}
	})
}
