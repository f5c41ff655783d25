package notify_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func sysContext() context.Context {
	return cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
}

// waitEntity polls until the entity exists and passes ok.
func waitEntity(t *testing.T, db *storage.DB, id string, ok func(*cityops.Entity) bool) *cityops.Entity {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := db.FindEntity(sysContext(), "", id)
		if err == nil && ok(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("entity %s: %v, %+v", id, err, e)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func str(e *cityops.Entity, name string) string {
	for _, a := range e.Attrs[jsonld.Core().ExpandTerm(name)] {
		if s, ok := a["value"].(string); ok {
			return s
		}
	}
	return ""
}

// TestAlertPublisher: alarms and warnings become NGSI-LD Alert entities
// (Smart Data Models) that follow their changes.
func TestAlertPublisher(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		if _, err := demo.Load(sysContext(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		p := notify.NewAlertPublisher(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
		db.OnAlarmChange(p.AlarmChanged)
		db.OnWarning(p.WarningChanged)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go p.Run(ctx)

		rule := &cityops.AlarmRule{Code: "pm", Name: "PM2.5 cao", Sector: "environment", Severity: cityops.SeverityMajor,
			EntityType: aqType, Attr: pm25, Kind: cityops.RuleThreshold, Op: ">", Value: 50, AutoClear: true, Enabled: true}
		if err := db.SaveAlarmRule(sysContext(), rule); err != nil {
			t.Fatal(err)
		}
		lat, lon := 16.4700, 107.5800
		l, err := db.RaiseAlarm(sysContext(), &cityops.AlarmRaise{Rule: rule, EntityID: "urn:ngsi-ld:AirQualityObserved:hue-dong-ba",
			EntityType: aqType, Value: 61, Message: "PM2.5 61", Lat: &lat, Lon: &lon})
		if err != nil {
			t.Fatal(err)
		}
		e := waitEntity(t, db, notify.AlarmAlertID(l.ID), func(*cityops.Entity) bool { return true })
		if e.Type != vocab+"Alert" || str(e, "severity") != "high" || str(e, "category") != "environment" ||
			str(e, "description") != "PM2.5 61" || str(e, "alarmStatus") != "active" || len(e.Attrs["location"]) != 1 {
			t.Fatalf("alert: %+v", e.Attrs)
		}
		if src := e.Attrs[vocab+"alertSource"]; len(src) != 1 || src[0]["object"] != "urn:ngsi-ld:AirQualityObserved:hue-dong-ba" {
			t.Fatalf("alertSource: %+v", src)
		}
		if _, err := db.EndAlarmCondition(sysContext(), "pm", "", l.EntityID, 40); err != nil {
			t.Fatal(err)
		}
		e = waitEntity(t, db, notify.AlarmAlertID(l.ID), func(e *cityops.Entity) bool { return str(e, "alarmStatus") == "cleared" })
		if len(e.Attrs[vocab+"validTo"]) != 1 {
			t.Fatalf("a cleared alarm's alert has no validTo: %+v", e.Attrs)
		}

		w := &cityops.Warning{Title: "Cảnh báo lũ", Body: "Sông Hương vượt báo động III", Severity: cityops.SeverityCritical, Sector: "disaster"}
		if err := db.CreateWarning(sysContext(), w); err != nil {
			t.Fatal(err)
		}
		e = waitEntity(t, db, notify.WarningAlertID(w.ID), func(*cityops.Entity) bool { return true })
		if str(e, "category") != "naturalDisaster" || str(e, "severity") != "critical" || str(e, "name") != "Cảnh báo lũ" {
			t.Fatalf("warning alert: %+v", e.Attrs)
		}
	})
}

// TestLiveHub: alarms go to every screen at once; readings are coalesced
// per entity, newest value kept, and flushed in one batch.
func TestLiveHub(t *testing.T) {
	h := notify.NewLiveHub(50 * time.Millisecond)
	c, leave := h.Subscribe()
	defer leave()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx, nil)
	h.AlarmChanged(cityops.AlarmChange{Alarm: &cityops.Alarm{ID: 7}, Action: "raise"})
	if e := <-c; e.Kind != "alarm" || e.Alarm.ID != 7 || e.Action != "raise" {
		t.Fatalf("first event: %+v", e)
	}
	reading := func(v float64) cityops.EntityChange {
		return cityops.EntityChange{ID: "urn:x:1", Type: aqType, Attrs: []string{pm25}, At: time.Now(),
			Entity: &cityops.Entity{ID: "urn:x:1", Type: aqType, Attrs: map[string][]cityops.Attr{
				pm25: {{"type": "Property", "value": v}}, no2: {{"type": "Property", "value": 9.0}}}}}
	}
	h.EntityChanged([]cityops.EntityChange{reading(10), reading(20)})
	h.EntityChanged([]cityops.EntityChange{reading(30)})
	select {
	case e := <-c:
		if e.Kind != "readings" || len(e.Readings) != 1 || e.Readings[0].Values[pm25] != 30 {
			t.Fatalf("readings: %+v", e)
		}
		if _, ok := e.Readings[0].Values[no2]; ok {
			t.Fatal("an attribute that was not written was sent")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no readings flushed")
	}
	// With nobody subscribed, nothing is kept.
	leave()
	h.EntityChanged([]cityops.EntityChange{reading(40)})
	c2, leave2 := h.Subscribe()
	defer leave2()
	select {
	case e := <-c2:
		t.Fatalf("readings from before the subscription: %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
}
