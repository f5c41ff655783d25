package storage_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestRollups writes readings every 20 s for three hours (in batches,
// out of order, and one at a time) and checks that every aggregation
// answers the same from the roll-ups as from first principles.
func TestRollups(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		db.Now = func() time.Time { return time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC) }
		const id = "urn:ngsi-ld:AirQualityObserved:hue-rollup"
		t0 := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
		type reading struct {
			at time.Time
			v  float64
		}
		var all []reading
		for i := 0; i < 3*180; i++ {
			all = append(all, reading{t0.Add(time.Duration(i) * 20 * time.Second), float64((i*37)%101) / 2})
		}
		// Newest first, 50 per batch, through the ingestion path.
		for end := len(all); end > 0; end -= 50 {
			var batch []*cityops.Entity
			for _, r := range all[max(0, end-50):end] {
				batch = append(batch, station(id, r.v, r.at.Format(time.RFC3339)))
			}
			errs, err := db.IngestEntities(ctx, "", batch)
			if err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
		}
		// The latest state is the newest reading, though it came first.
		e, err := db.FindEntity(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Attrs[pm25][0]["value"]; got != all[len(all)-1].v {
			t.Errorf("latest pm25 = %v, want the newest reading %v", got, all[len(all)-1].v)
		}
		// A text value counts but is not a number.
		if _, err := db.AppendAttrs(ctx, "", id, map[string][]cityops.Attr{pm25: {prop("sensor fault", t0.Add(30*time.Second).Format(time.RFC3339))}}, false); err != nil {
			t.Fatal(err)
		}
		want := func(from, to time.Time, period time.Duration) []cityops.AggrPeriod {
			acc := map[int]*cityops.AggrPeriod{}
			var keys []int
			add := func(at time.Time, v *float64) {
				if at.Before(from) || !at.Before(to) {
					return
				}
				k := 0
				if period > 0 {
					k = int(at.Sub(from) / period)
				}
				p := acc[k]
				if p == nil {
					p = &cityops.AggrPeriod{From: from.Add(time.Duration(k) * period), To: to}
					if period > 0 {
						p.To = p.From.Add(period)
					}
					acc[k] = p
					keys = append(keys, k)
				}
				p.Count++
				if v == nil {
					return
				}
				if p.Numbers == 0 || *v < p.Min {
					p.Min = *v
				}
				if p.Numbers == 0 || *v > p.Max {
					p.Max = *v
				}
				p.Numbers++
				p.Sum += *v
			}
			for _, r := range all {
				add(r.at, &r.v)
			}
			add(t0.Add(30*time.Second), nil)
			var out []cityops.AggrPeriod
			for k := 0; k <= 100000; k++ {
				if p := acc[k]; p != nil {
					out = append(out, *p)
				}
			}
			_ = keys
			return out
		}
		cases := []struct {
			name     string
			from, to time.Time
			period   time.Duration
		}{
			{"whole window, unaligned edges", t0.Add(-7 * time.Minute).Add(13 * time.Second), t0.Add(150*time.Minute + 41*time.Second), 0},
			{"hours", t0, t0.Add(3 * time.Hour), time.Hour},
			{"quarter hours", t0, t0.Add(3 * time.Hour), 15 * time.Minute},
			{"days", t0.Add(-6 * time.Hour), t0.Add(42 * time.Hour), 24 * time.Hour},
			{"periods off the minute", t0.Add(10 * time.Second), t0.Add(2 * time.Hour), 7 * time.Minute},
			{"tail of a minute", t0, t0.Add(95*time.Minute + 30*time.Second), 30 * time.Minute},
		}
		for _, c := range cases {
			got, err := db.Aggregate(ctx, "", id, pm25, c.from, c.to, c.period, false)
			if err != nil {
				t.Fatal(c.name, err)
			}
			w := want(c.from, c.to, c.period)
			if len(got) != len(w) {
				t.Fatalf("%s: %d periods, want %d", c.name, len(got), len(w))
			}
			for i := range w {
				g := got[i]
				if !g.From.Equal(w[i].From) || !g.To.Equal(w[i].To) || g.Count != w[i].Count || g.Numbers != w[i].Numbers ||
					math.Abs(g.Sum-w[i].Sum) > 1e-6 || g.Min != w[i].Min || g.Max != w[i].Max {
					t.Errorf("%s period %d: got %+v, want %+v", c.name, i, g, w[i])
				}
			}
		}
		// distinctCount comes from the instances.
		got, err := db.Aggregate(ctx, "", id, pm25, t0, t0.Add(time.Hour), 0, true)
		if err != nil {
			t.Fatal(err)
		}
		distinct := map[float64]bool{}
		for _, r := range all[:180] {
			distinct[r.v] = true
		}
		if len(got) != 1 || got[0].Distinct != int64(len(distinct)+1) {
			t.Errorf("distinct = %+v, want %d", got, len(distinct)+1)
		}
		if _, err := db.Aggregate(ctx, "", "urn:ngsi-ld:AirQualityObserved:nowhere", pm25, t0, t0.Add(time.Hour), 0, false); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("unknown entity: %v, want ENOTFOUND", err)
		}
	})
}

// TestRetention keeps raw instances for a day and roll-ups longer, and
// checks that aggregations still answer from the roll-ups.
func TestRetention(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := cityops.NewContextWithActor(context.Background(), &cityops.Actor{System: true})
		now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		const id = "urn:ngsi-ld:AirQualityObserved:hue-retention"
		var batch []*cityops.Entity
		for d := 0; d < 5; d++ {
			for h := 0; h < 24; h++ {
				at := now.Add(-time.Duration(d)*24*time.Hour - time.Duration(h)*time.Hour)
				batch = append(batch, station(id, float64(h), at.Format(time.RFC3339)))
			}
		}
		if errs, err := db.IngestEntities(ctx, "", batch); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		bad := &cityops.RetentionPolicy{EntityType: aqType, RawDays: 30, HourDays: 7}
		if err := db.SetRetention(ctx, bad); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("hour roll-ups kept shorter than raw: %v, want EINVALID", err)
		}
		if err := db.SetRetention(ctx, &cityops.RetentionPolicy{EntityType: aqType, RawDays: 1, HourDays: 3}); err != nil {
			t.Fatal(err)
		}
		if err := db.SetRetention(context.Background(), &cityops.RetentionPolicy{EntityType: aqType}); cityops.ErrorCode(err) != cityops.EUNAUTHORIZED {
			t.Errorf("anonymous policy change: %v, want EUNAUTHORIZED", err)
		}
		n, err := db.ApplyRetention(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("retention deleted nothing")
		}
		hist, err := db.History(ctx, "", id, pm25, now.Add(-10*24*time.Hour), now.Add(time.Hour), 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 25 { // the last 24 hours and now
			t.Errorf("%d raw instances kept, want 25", len(hist))
		}
		// Day roll-ups are kept for ever: five days still count 120.
		from := time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)
		agg, err := db.Aggregate(ctx, "", id, pm25, from, from.Add(6*24*time.Hour), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(agg) != 1 || agg[0].Count != 120 {
			t.Errorf("aggregate after retention = %+v, want 120 instances", agg)
		}
		again, err := db.ApplyRetention(ctx)
		if err != nil || again != 0 {
			t.Errorf("second run deleted %d (%v), want 0", again, err)
		}
		pols, err := db.RetentionPolicies(ctx, "")
		if err != nil || len(pols) != 1 || pols[0].RawDays != 1 || pols[0].DayDays != 0 {
			t.Errorf("policies = %+v, %v", pols, err)
		}
		if err := db.DeleteRetention(ctx, "", aqType); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteRetention(ctx, "", aqType); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("delete twice: %v", err)
		}
	})
}

// TestBatchUpsert checks the set-based batch path: repeated ids in one
// batch, a type clash refused alone, and the listeners told after commit.
func TestBatchUpsert(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		var changes []cityops.EntityChange
		db.OnEntityChange(func(c []cityops.EntityChange) {
			mu.Lock()
			changes = append(changes, c...)
			mu.Unlock()
		})
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{station("urn:a:1", 1, "2026-05-01T00:00:00Z")}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		var batch []*cityops.Entity
		for i := 0; i < 3; i++ {
			batch = append(batch, station("urn:a:1", float64(10+i), fmt.Sprintf("2026-05-01T00:0%d:00Z", i+1)))
			batch = append(batch, station("urn:a:2", float64(20+i), fmt.Sprintf("2026-05-01T00:0%d:00Z", i+1)))
		}
		clash := &cityops.Entity{ID: "urn:a:1", Type: "https://example.org/Other", Attrs: map[string][]cityops.Attr{no2: {prop(5.0, "")}}}
		bad := &cityops.Entity{ID: "not a uri", Type: aqType}
		batch = append(batch, clash, bad)
		errs, err := db.UpsertEntities(ctx, "", batch, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) != 2 || cityops.ErrorCode(errs["urn:a:1"]) != cityops.EINVALID || cityops.ErrorCode(errs["not a uri"]) != cityops.EINVALID {
			t.Errorf("errs = %v, want the type clash and the bad id", errs)
		}
		for id, want := range map[string]float64{"urn:a:1": 12, "urn:a:2": 22} {
			e, err := db.FindEntity(ctx, "", id)
			if err != nil {
				t.Fatal(err)
			}
			if e.Attrs[pm25][0]["value"] != want {
				t.Errorf("%s pm25 = %v, want %v", id, e.Attrs[pm25][0]["value"], want)
			}
			if _, ok := e.Attrs[no2]; ok {
				t.Errorf("%s got the refused entity's attribute", id)
			}
			hist, err := db.History(ctx, "", id, pm25, time.Time{}, time.Now().Add(time.Hour), 100, false)
			if err != nil {
				t.Fatal(err)
			}
			wantN := 3
			if id == "urn:a:1" {
				wantN = 4
			}
			if len(hist) != wantN {
				t.Errorf("%s: %d instances in history, want %d", id, len(hist), wantN)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(changes) != 3 {
			t.Fatalf("%d changes, want 3 (one create, then one per entity)", len(changes))
		}
		if !changes[0].Created || changes[0].ID != "urn:a:1" {
			t.Errorf("first change = %+v", changes[0])
		}
		for _, c := range changes[1:] {
			if c.Created && c.ID == "urn:a:1" || len(c.Attrs) == 0 && !c.Created || c.Entity == nil {
				t.Errorf("change = %+v", c)
			}
		}
	})
}

// TestInstanceEdits replaces and deletes single instances and whole
// histories, and checks that the roll-ups follow.
func TestInstanceEdits(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		const id = "urn:ngsi-ld:AirQualityObserved:hue-edits"
		t0 := time.Date(2026, 5, 1, 6, 0, 0, 0, time.UTC)
		var batch []*cityops.Entity
		for i := 0; i < 6; i++ { // 06:00 … 06:50, one block
			batch = append(batch, station(id, float64(10*(i+1)), t0.Add(time.Duration(i)*10*time.Minute).Format(time.RFC3339)))
		}
		if errs, err := db.IngestEntities(ctx, "", batch); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		hist, err := db.History(ctx, "", id, pm25, t0, t0.Add(time.Hour), 100, false)
		if err != nil || len(hist) != 6 {
			t.Fatalf("history = %v, %v", hist, err)
		}
		day := func() cityops.AggrPeriod {
			agg, err := db.Aggregate(ctx, "", id, pm25, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), 24*time.Hour, false)
			if err != nil || len(agg) != 1 {
				t.Fatalf("aggregate = %v, %v", agg, err)
			}
			return agg[0]
		}
		if a := day(); a.Count != 6 || a.Sum != 210 || a.Max != 60 {
			t.Fatalf("day before edits = %+v", a)
		}
		// Delete the largest (06:50) and move 06:00's value to 07:30.
		if err := db.ReplaceInstance(ctx, "", id, pm25, hist[5].ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.ReplaceInstance(ctx, "", id, pm25, hist[5].ID, nil); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("delete twice: %v, want ENOTFOUND", err)
		}
		hist, _ = db.History(ctx, "", id, pm25, t0, t0.Add(time.Hour), 100, false)
		moved := prop(5.0, t0.Add(90*time.Minute).Format(time.RFC3339))
		if err := db.ReplaceInstance(ctx, "", id, pm25, hist[0].ID, moved); err != nil {
			t.Fatal(err)
		}
		if err := db.ReplaceInstance(ctx, "", id, pm25, "urn:ngsi-ld:Instance:x", moved); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("bad instance id: %v, want ENOTFOUND", err)
		}
		if err := db.ReplaceInstance(ctx, "", id, pm25, hist[1].ID, cityops.Attr{"type": "Nonsense"}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Errorf("bad replacement: %v, want EINVALID", err)
		}
		if a := day(); a.Count != 5 || a.Sum != 20+30+40+50+5 || a.Max != 50 || a.Min != 5 {
			t.Errorf("day after edits = %+v", a)
		}
		hours, err := db.Aggregate(ctx, "", id, pm25, t0, t0.Add(2*time.Hour), time.Hour, false)
		if err != nil || len(hours) != 2 || hours[0].Count != 4 || hours[1].Count != 1 || hours[1].Sum != 5 {
			t.Errorf("hours after edits = %+v, %v", hours, err)
		}
		if err := db.DeleteHistory(ctx, "", id, pm25, "", true); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteHistory(ctx, "", id, pm25, "", true); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Errorf("delete history twice: %v, want ENOTFOUND", err)
		}
		if hist, _ := db.History(ctx, "", id, pm25, t0, t0.Add(3*time.Hour), 100, false); len(hist) != 0 {
			t.Errorf("history after delete = %v", hist)
		}
	})
}

// TestBatchSizes writes batches whose rows take several statements (on
// SQLite, row counts in powers of two, kept prepared), each twice so
// that the second time runs on prepared statements, and checks every
// entity's state, history, roll-ups and indexed value.
func TestBatchSizes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		n := 0
		for _, size := range []int{1, 3, 100, 700} {
			for round := 0; round < 2; round++ {
				var batch []*cityops.Entity
				for i := 0; i < size; i++ {
					at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second).Format(time.RFC3339)
					batch = append(batch, station(fmt.Sprintf("urn:s%d:%04d", size, i), float64(round*1000+i), at))
					n++
				}
				if errs, err := db.UpsertEntities(ctx, "", batch, false); err != nil || len(errs) > 0 {
					t.Fatalf("size %d round %d: %v %v", size, round, err, errs)
				}
			}
			for _, i := range []int{0, size / 2, size - 1} {
				id := fmt.Sprintf("urn:s%d:%04d", size, i)
				e, err := db.FindEntity(ctx, "", id)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := e.Attrs[pm25][0]["value"], float64(1000+i); got != want {
					t.Errorf("%s pm25 = %v, want %v", id, got, want)
				}
				hist, err := db.History(ctx, "", id, pm25, time.Time{}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 0, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(hist) != 2 {
					t.Errorf("%s: %d instances in history, want 2", id, len(hist))
				}
				aggr, err := db.Aggregate(ctx, "", id, pm25, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), 24*time.Hour, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(aggr) != 1 || aggr[0].Count != 2 || aggr[0].Sum != float64(1000+2*i) {
					t.Errorf("%s: day roll-up %+v, want 2 readings summing to %d", id, aggr, 1000+2*i)
				}
			}
			expr, err := q.Parse(fmt.Sprintf("pm25==%d", 1000+size-1))
			if err != nil {
				t.Fatal(err)
			}
			list, _, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{aqType}, Q: expr,
				Expand: func(s string) string { return strings.Replace(s, "pm25", pm25, 1) }})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range list {
				found = found || e.ID == fmt.Sprintf("urn:s%d:%04d", size, size-1)
			}
			if !found {
				t.Errorf("size %d: the last entity is not found by its indexed value", size)
			}
		}
	})
}

// TestBatchKeepsBox: an update that does not write the location keeps
// the entity's bounding box; one that does moves it.
func TestBatchKeepsBox(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		inBox := func(box [4]float64) bool {
			t.Helper()
			list, _, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{aqType}, Box: &box})
			if err != nil {
				t.Fatal(err)
			}
			return len(list) == 1
		}
		hue := [4]float64{16.4, 107.5, 16.5, 107.6}
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{station("urn:b:1", 1, "2026-05-01T00:00:00Z")}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		update := &cityops.Entity{ID: "urn:b:1", Type: aqType, Attrs: map[string][]cityops.Attr{pm25: {prop(2.0, "2026-05-01T00:01:00Z")}}}
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{update}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		if !inBox(hue) {
			t.Error("an update of pm25 alone lost the location's box")
		}
		moved := &cityops.Entity{ID: "urn:b:1", Type: aqType, Attrs: map[string][]cityops.Attr{
			cityops.LocationAttr: {{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{106.7, 10.8}}}}}}
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{moved}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		if inBox(hue) || !inBox([4]float64{10.7, 106.6, 10.9, 106.8}) {
			t.Error("an update of the location did not move the box")
		}
	})
}
