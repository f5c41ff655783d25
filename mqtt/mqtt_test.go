package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/mqtt"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// broker returns the local broker's URL: CITYOPS_TEST_MQTT, else
// tcp://127.0.0.1:1883 when something listens there. CI requires it.
func broker(t *testing.T) string {
	t.Helper()
	u := os.Getenv("CITYOPS_TEST_MQTT")
	if u == "" {
		u = "tcp://127.0.0.1:1883"
	}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(u).SetClientID(fmt.Sprintf("probe-%d", time.Now().UnixNano())).SetConnectTimeout(2 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		if os.Getenv("CITYOPS_TEST_MQTT") != "" {
			t.Fatalf("no MQTT broker at %s: %v", u, tok.Error())
		}
		t.Skipf("no MQTT broker at %s; set CITYOPS_TEST_MQTT to run", u)
	}
	c.Disconnect(100)
	return u
}

func TestIngest(t *testing.T) {
	url := broker(t)
	db := storagetest.Open(t, storage.SQLite)
	sys := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
	// A key of our own, so that parallel runs on one broker do not mix.
	key := fmt.Sprintf("k%d", time.Now().UnixNano())
	dev := &cityops.Device{ID: "aq-01", Key: key, EntityID: "urn:ngsi-ld:AirQualityObserved:hue-test", EntityType: "AirQualityObserved",
		Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: "pm25", UnitCode: "GQ"}, {ObjectID: "n", Name: "no2", UnitCode: "GQ"}}}
	if err := db.CreateDevice(sys, dev); err != nil {
		t.Fatal(err)
	}
	in := &mqtt.Ingest{Broker: url, ClientID: "cityops-test-" + key, Devices: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("pub-" + key))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	time.Sleep(300 * time.Millisecond) // the subscription settles
	send := func(topic, payload string) {
		if tok := pub.Publish(topic, 1, false, payload); tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	send("/"+key+"/aq-01/attrs", `{"p": 41.5, "n": 18, "x": 1, "TimeInstant": "2026-11-28T01:00:00Z"}`)
	send("/"+key+"/aq-01/attrs", `not json`)
	send("/"+key+"/ghost/attrs", `{"p": 1}`)
	send("/"+key+"/aq-01/attrs", `{"x": 1}`)
	send("/"+key+"/aq-01/attrs", `{"p": 42.0, "TimeInstant": "2026-11-28T01:01:00Z"}`)
	deadline := time.Now().Add(10 * time.Second)
	for in.Accepted.Load()+in.Rejected.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if a, r := in.Accepted.Load(), in.Rejected.Load(); a != 2 || r != 3 {
		t.Fatalf("accepted %d, rejected %d; want 2 and 3", a, r)
	}
	e, err := db.FindEntity(context.Background(), "", dev.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	pm := e.Attrs["pm25"][0]
	if pm["value"] != 42.0 || pm["unitCode"] != "GQ" || e.Attrs["no2"][0]["value"] != 18.0 || e.Attrs["x"] != nil {
		t.Fatalf("entity = %+v", e.Attrs)
	}
	h, err := db.History(context.Background(), "", dev.EntityID, "pm25", time.Unix(0, 0), time.Now().Add(time.Hour), 10, false)
	if err != nil || len(h) != 2 || !h[0].ObservedAt.Equal(time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("history = %+v, %v", h, err)
	}
	devs, _ := db.FindDevices(sys)
	if len(devs) != 1 || devs[0].LastSeenAt == nil {
		t.Fatalf("devices = %+v", devs)
	}
}

// TestIngestShared spreads the subscription over three connections: every
// message is stored once.
func TestIngestShared(t *testing.T) {
	url := broker(t)
	db := storagetest.Open(t, storage.SQLite)
	sys := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
	key := fmt.Sprintf("s%d", time.Now().UnixNano())
	for i := range 10 {
		id := fmt.Sprint("d", i)
		if err := db.CreateDevice(sys, &cityops.Device{ID: id, Key: key, EntityID: "urn:ngsi-ld:Thing:" + key + id, EntityType: "Thing",
			Attrs: []cityops.DeviceAttr{{ObjectID: "v", Name: "value"}}}); err != nil {
			t.Fatal(err)
		}
	}
	in := &mqtt.Ingest{Broker: url, ClientID: "cityops-test-" + key, Topic: "/" + key + "/+/attrs", Connections: 3,
		Devices: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("pub-" + key))
	if tok := pub.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	time.Sleep(300 * time.Millisecond) // the subscriptions settle
	for i := range 60 {
		tok := pub.Publish(fmt.Sprintf("/%s/d%d/attrs", key, i%10), 1, false, fmt.Sprintf(`{"v": %d}`, i))
		if tok.Wait() && tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for in.Accepted.Load() < 60 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a duplicate would show by now
	if a, r := in.Accepted.Load(), in.Rejected.Load(); a != 60 || r != 0 {
		t.Fatalf("accepted %d, rejected %d; want 60 and 0", a, r)
	}
}
