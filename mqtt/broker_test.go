package mqtt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/mqtt"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// connect signs in to the broker at addr; it returns the client or the
// connection's error.
func connect(t *testing.T, addr, user, password string) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("t-%s-%d", user, time.Now().UnixNano())).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if user != "" {
		o.SetUsername(user).SetPassword(password)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func writeUsers(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mqtt-users")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBroker runs the embedded broker against a real database: devices
// sign in, may publish measurements under their keys and nothing else,
// and what they publish is stored; bad messages are counted and do not
// stop the next good one.
func TestBroker(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	sys := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
	dev := &cityops.Device{ID: "aq-01", Key: "hue", EntityID: "urn:ngsi-ld:AirQualityObserved:hue-broker", EntityType: "AirQualityObserved",
		Attrs: []cityops.DeviceAttr{{ObjectID: "p", Name: "pm25", UnitCode: "GQ"}, {ObjectID: "n", Name: "no2", UnitCode: "GQ"}}}
	if err := db.CreateDevice(sys, dev); err != nil {
		t.Fatal(err)
	}
	users, err := mqtt.ReadUsers(writeUsers(t, "# devices\ngateway-hue  correct-horse-battery  hue\n\nanyone  staple-staple-staple\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := &mqtt.Ingest{Devices: db, Log: quiet(), BatchWait: 5 * time.Millisecond}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := &mqtt.Broker{Addr: "127.0.0.1:0", Users: users, Ingest: in, Log: quiet()}
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	// Closing the broker, then the ingest, is serve's order.
	defer in.Stop()
	defer b.Close()
	addr := b.Address()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Address() = %s; want the port picked", addr)
	}

	for _, tt := range []struct{ user, password string }{
		{"", ""},
		{"gateway-hue", "wrong-password-123"},
		{"gateway-hue", ""},
		{"nobody", "correct-horse-battery"},
	} {
		if _, err := connect(t, addr, tt.user, tt.password); err == nil {
			t.Errorf("connect as %q with %q: accepted; want refused", tt.user, tt.password)
		}
	}

	pub, err := connect(t, addr, "gateway-hue", "correct-horse-battery")
	if err != nil {
		t.Fatalf("good credentials refused: %v", err)
	}
	// Nobody may read measurements, not even a signed-in device.
	sub := pub.Subscribe(mqtt.Topic, 1, func(paho.Client, paho.Message) { t.Error("a client received a measurement") })
	if !sub.WaitTimeout(5*time.Second) || sub.(*paho.SubscribeToken).Result()[mqtt.Topic] != 0x80 {
		t.Errorf("subscribe = %v %v; want refused (0x80)", sub.Error(), sub.(*paho.SubscribeToken).Result())
	}
	send := func(c paho.Client, qos byte, topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, qos, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	send(pub, 1, "/hue/aq-01/attrs", `{"p": 41.5, "n": 18, "x": 1, "TimeInstant": "2026-11-28T01:00:00Z"}`)
	send(pub, 1, "/hue/aq-01/attrs", `not json`)
	send(pub, 1, "/hue/ghost/attrs", `{"p": 1}`)
	send(pub, 1, "/hue/aq-01/attrs", `{"x": 1}`)
	send(pub, 1, "/hue/aq-01/attrs", `{"p": 42.0, "TimeInstant": "2026-11-28T01:01:00Z"}`)
	// Outside the user's key and outside the topic shape: refused by the
	// broker (QoS 0, since a refused QoS 1 message closes a 3.1.1 client).
	send(pub, 0, "/elsewhere/aq-01/attrs", `{"p": 1}`)
	send(pub, 0, "/hue/aq-01/cmd", `{"p": 1}`)
	deadline := time.Now().Add(10 * time.Second)
	wait := func(n int64) {
		for in.Accepted.Load()+in.Rejected.Load() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A user without keys may publish under any key; once the first
	// connection's messages are in, since connections are not ordered
	// among themselves.
	wait(7)
	other, err := connect(t, addr, "anyone", "staple-staple-staple")
	if err != nil {
		t.Fatal(err)
	}
	send(other, 1, "/hue/aq-01/attrs", `{"p": 43.0, "TimeInstant": "2026-11-28T01:02:00Z"}`)
	wait(8)
	if a, r, d := in.Accepted.Load(), in.Rejected.Load(), in.Dropped.Load(); a != 3 || r != 5 || d != 0 {
		t.Fatalf("accepted %d, rejected %d, dropped %d; want 3, 5 and 0", a, r, d)
	}
	e, err := db.FindEntity(context.Background(), "", dev.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	if pm := e.Attrs["pm25"][0]; pm["value"] != 43.0 || pm["unitCode"] != "GQ" || e.Attrs["no2"][0]["value"] != 18.0 || e.Attrs["x"] != nil {
		t.Fatalf("entity = %+v", e.Attrs)
	}
	h, err := db.History(context.Background(), "", dev.EntityID, "pm25", time.Unix(0, 0), time.Now().Add(time.Hour), 10, false)
	if err != nil || len(h) != 3 || !h[0].ObservedAt.Equal(time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("history = %+v, %v", h, err)
	}
	if in.QueueDepth() != 0 {
		t.Errorf("queue depth %d after everything was written", in.QueueDepth())
	}
}

// TestBrokerWill refuses a device whose will message would publish where
// the device itself may not: the broker sends wills without asking the
// publishing rules.
func TestBrokerWill(t *testing.T) {
	users := []mqtt.User{{Name: "gw", Password: "correct-horse-battery", Keys: []string{"hue"}}}
	in := &mqtt.Ingest{Devices: storagetest.Open(t, storage.SQLite), Log: quiet()}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer in.Stop()
	b := &mqtt.Broker{Addr: "127.0.0.1:0", Users: users, Ingest: in, Log: quiet()}
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, tt := range []struct {
		topic string
		ok    bool
	}{
		{"/hue/aq-01/attrs", true},
		{"/other/aq-01/attrs", false},
		{"status", false},
	} {
		o := paho.NewClientOptions().AddBroker("tcp://"+b.Address()).SetClientID("will-"+tt.topic).
			SetUsername("gw").SetPassword("correct-horse-battery").SetWill(tt.topic, `{"p": 0}`, 1, false).SetAutoReconnect(false)
		c := paho.NewClient(o)
		tok := c.Connect()
		tok.WaitTimeout(5 * time.Second)
		if got := tok.Error() == nil; got != tt.ok {
			t.Errorf("will on %q: connected = %v, want %v (%v)", tt.topic, got, tt.ok, tok.Error())
		}
		c.Disconnect(50)
	}
}

func TestReadUsers(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string // want: a part of the error, or the users as Name:Keys
	}{
		{"good", "# comment\n a   password-of-a   k1,k2\nb password-of-b\n", "[a:[k1 k2] b:[]]"},
		{"empty", "# nobody\n", "no users"},
		{"short", "a short\n", "shorter than 12"},
		{"fields", "a\n", "line 1: want USERNAME PASSWORD"},
		{"again", "a password-of-a\na password-of-a\n", "line 2: user \"a\" again"},
		{"key", "a password-of-a hue,/x\n", "key \"/x\""},
		{"all at once", "a\nb short\n", "line 1: want USERNAME PASSWORD [KEY,KEY…]; line 2: the password of \"b\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			users, err := mqtt.ReadUsers(writeUsers(t, tt.text))
			var got string
			if err != nil {
				got = err.Error()
			} else {
				var parts []string
				for _, u := range users {
					parts = append(parts, fmt.Sprintf("%s:%v", u.Name, u.Keys))
				}
				got = fmt.Sprint(parts)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := mqtt.ReadUsers(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file: no error")
	}
}
