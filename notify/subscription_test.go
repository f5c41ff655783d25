package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// Names as the core context expands short ones.
const (
	vocab  = "https://uri.etsi.org/ngsi-ld/default-context/"
	aqType = vocab + "AirQualityObserved"
	pm25   = vocab + "pm25"
	no2    = vocab + "no2"
)

// notification is what a receiver gets.
type notification struct {
	ID             string           `json:"id"`
	Type           string           `json:"type"`
	SubscriptionID string           `json:"subscriptionId"`
	NotifiedAt     string           `json:"notifiedAt"`
	Data           []map[string]any `json:"data"`
	Context        any              `json:"@context"`
	header         http.Header
	at             time.Time
}

// ngsiReceiver is a subscriber's endpoint on a loopback port. answer, when
// set, decides the status of each request (it may block).
type ngsiReceiver struct {
	mu     sync.Mutex
	got    []notification
	calls  int
	answer func(call int) int
	url    string
}

func newNGSIReceiver(t *testing.T, answer func(call int) int) *ngsiReceiver {
	rc := &ngsiReceiver{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// The sender gave up mid-body (its context ended as the test
			// shut down): not a notification, and not a malformed one.
			return
		}
		rc.mu.Lock()
		rc.calls++
		call := rc.calls
		rc.mu.Unlock()
		if rc.answer != nil {
			if code := rc.answer(call); code != 200 {
				w.WriteHeader(code)
				return
			}
		}
		var n notification
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("notification body %s: %v", b, err)
		}
		n.header, n.at = r.Header.Clone(), time.Now()
		rc.mu.Lock()
		rc.got = append(rc.got, n)
		rc.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/notify"
	return rc
}

// wait waits until n notifications arrived and returns them.
func (rc *ngsiReceiver) wait(t *testing.T, n int) []notification {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rc.mu.Lock()
		got := append([]notification(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d notifications, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle waits a little and checks that exactly n notifications arrived.
func (rc *ngsiReceiver) settle(t *testing.T, n int) []notification {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != n {
		var ids []any
		for _, g := range rc.got {
			ids = append(ids, g.Data)
		}
		t.Fatalf("got %d notifications, want %d: %v", len(rc.got), n, ids)
	}
	return append([]notification(nil), rc.got...)
}

// startNotifier runs a notifier on db until the test ends.
func startNotifier(t *testing.T, db *storage.DB, tune func(n *notify.Notifier)) *notify.Notifier {
	n := &notify.Notifier{Store: db, Entities: db, Contexts: jsonld.NewCache(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Backoff: 20 * time.Millisecond, Timeout: 2 * time.Second, FlushEvery: 50 * time.Millisecond, PollEvery: 100 * time.Millisecond}
	if tune != nil {
		tune(n)
	}
	db.OnEntityChange(n.EntityChanged)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func aqSub(id, uri string) *cityops.Subscription {
	return &cityops.Subscription{ID: "urn:ngsi-ld:Subscription:" + id, Active: true,
		Entities:     []cityops.EntitySelector{{Type: aqType}},
		Notification: cityops.NotificationParams{Endpoint: cityops.Endpoint{URI: uri}}}
}

func aq(id string, attrs map[string]any) *cityops.Entity {
	e := &cityops.Entity{ID: "urn:ngsi-ld:AirQualityObserved:" + id, Type: aqType, Attrs: map[string][]cityops.Attr{}}
	for k, v := range attrs {
		if k == cityops.LocationAttr {
			e.Attrs[k] = []cityops.Attr{{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": v}}}
			continue
		}
		e.Attrs[vocab+k] = []cityops.Attr{{"type": "Property", "value": v}}
	}
	return e
}

func setPM(t *testing.T, db *storage.DB, tenant, id string, v float64) {
	t.Helper()
	if _, err := db.UpdateAttrs(context.Background(), tenant, "urn:ngsi-ld:AirQualityObserved:"+id,
		map[string][]cityops.Attr{pm25: {{"type": "Property", "value": v}}}); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, db *storage.DB, e *cityops.Entity) {
	t.Helper()
	if err := db.CreateEntity(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// TestSubscriptionMatching: a subscription on a type, watched attributes
// and q gets the matching changes and nothing else (clause 5.8, 4.9).
func TestSubscriptionMatching(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		rc := newNGSIReceiver(t, nil)
		sub := aqSub("pm25", rc.url)
		sub.WatchedAttributes = []string{pm25}
		sub.Q = "pm25>35"
		if err := n.CreateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}

		create(t, db, aq("a", map[string]any{"pm25": 40.0, "no2": 10.0})) // created with a watched attribute: notifies
		got := rc.wait(t, 1)
		setPM(t, db, "", "a", 20) // q false
		// An attribute that is not watched.
		if _, err := db.UpdateAttrs(context.Background(), "", "urn:ngsi-ld:AirQualityObserved:a",
			map[string][]cityops.Attr{no2: {{"type": "Property", "value": 99.0}}}); err != nil {
			t.Fatal(err)
		}
		other := aq("x", map[string]any{"pm25": 80.0}) // another type
		other.ID, other.Type = "urn:ngsi-ld:WeatherObserved:x", vocab+"WeatherObserved"
		create(t, db, other)
		create(t, db, aq("b", map[string]any{"no2": 50.0})) // no watched attribute
		rc.settle(t, 1)
		setPM(t, db, "", "a", 50) // matches again
		got = rc.wait(t, 2)
		if err := db.DeleteEntity(context.Background(), "", "urn:ngsi-ld:AirQualityObserved:a"); err != nil { // entityDeleted is not a default trigger
			t.Fatal(err)
		}
		rc.settle(t, 2)

		for i, want := range []float64{40, 50} {
			g := got[i]
			if g.Type != "Notification" || g.SubscriptionID != sub.ID || len(g.Data) != 1 || g.header.Get("Content-Type") != "application/json" ||
				g.header.Get("Link") != jsonld.LinkHeader(jsonld.CoreURL) || g.header.Get("NGSILD-Tenant") != "" {
				t.Fatalf("notification %d = %+v", i, g)
			}
			if _, err := time.Parse(time.RFC3339, g.NotifiedAt); err != nil || len(g.ID) < 30 {
				t.Errorf("id %q notifiedAt %q", g.ID, g.NotifiedAt)
			}
			e := g.Data[0]
			pm, _ := e["pm25"].(map[string]any)
			if e["id"] != "urn:ngsi-ld:AirQualityObserved:a" || e["type"] != "AirQualityObserved" || pm["value"] != want || pm["type"] != "Property" || e["no2"] == nil {
				t.Errorf("notification %d data = %v", i, e)
			}
		}
		if got[0].ID == got[1].ID {
			t.Error("notification ids repeat")
		}
	})
}

// TestSubscriptionFormats: attributes projection, keyValues, concise,
// application/ld+json, receiverInfo headers, sysAttrs.
func TestSubscriptionFormats(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	n := startNotifier(t, db, nil)
	for _, tt := range []struct {
		name   string
		params cityops.NotificationParams
		check  func(t *testing.T, g notification)
	}{
		{"keyValues with attributes", cityops.NotificationParams{Format: cityops.FormatKeyValues, Attributes: []string{pm25}}, func(t *testing.T, g notification) {
			b, _ := json.Marshal(g.Data)
			if string(b) != `[{"id":"urn:ngsi-ld:AirQualityObserved:kv","pm25":40,"type":"AirQualityObserved"}]` {
				t.Errorf("data = %s", b)
			}
		}},
		{"concise", cityops.NotificationParams{Format: cityops.FormatConcise}, func(t *testing.T, g notification) {
			b, _ := json.Marshal(g.Data)
			if string(b) != `[{"id":"urn:ngsi-ld:AirQualityObserved:concise","location":{"coordinates":[107.58,16.47],"type":"Point"},"no2":7,"pm25":40,"type":"AirQualityObserved"}]` {
				t.Errorf("data = %s", b)
			}
		}},
		{"ld+json with headers and sysAttrs", cityops.NotificationParams{SysAttrs: true, Attributes: []string{no2},
			Endpoint: cityops.Endpoint{Accept: "application/ld+json", ReceiverInfo: []cityops.KeyValue{{Key: "Authorization", Value: "Bearer s3cret"}, {Key: "X-Feed", Value: "hue"}}}},
			func(t *testing.T, g notification) {
				e := g.Data[0]
				if g.header.Get("Content-Type") != "application/ld+json" || g.header.Get("Link") != "" || g.Context != jsonld.CoreURL ||
					g.header.Get("Authorization") != "Bearer s3cret" || g.header.Get("X-Feed") != "hue" {
					t.Errorf("headers %v, @context %v", g.header, g.Context)
				}
				if e["createdAt"] == nil || e["modifiedAt"] == nil || e["pm25"] != nil || e["no2"] == nil {
					t.Errorf("data = %v", e)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newNGSIReceiver(t, nil)
			id := map[string]string{"keyValues with attributes": "kv", "concise": "concise", "ld+json with headers and sysAttrs": "ld"}[tt.name]
			sub := aqSub(id, rc.url)
			sub.Entities[0].ID = "urn:ngsi-ld:AirQualityObserved:" + id
			sub.Notification = tt.params
			sub.Notification.Endpoint.URI = rc.url
			if err := n.CreateSubscription(sys(), sub); err != nil {
				t.Fatal(err)
			}
			create(t, db, aq(id, map[string]any{"pm25": 40.0, "no2": 7.0, "location": []any{107.58, 16.47}}))
			tt.check(t, rc.wait(t, 1)[0])
		})
	}
}

// TestSubscriptionGeoQ: only entities within the geo-query notify.
func TestSubscriptionGeoQ(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	n := startNotifier(t, db, nil)
	rc := newNGSIReceiver(t, nil)
	sub := aqSub("near-dong-ba", rc.url)
	sub.GeoQ = &cityops.GeoQuery{Georel: "near;maxDistance==1000", Geometry: "Point", Coordinates: json.RawMessage(`[107.588,16.472]`)}
	if err := n.CreateSubscription(sys(), sub); err != nil {
		t.Fatal(err)
	}
	create(t, db, aq("far", map[string]any{"pm25": 1.0, "location": []any{107.60, 16.50}}))
	create(t, db, aq("near", map[string]any{"pm25": 1.0, "location": []any{107.589, 16.473}}))
	create(t, db, aq("nowhere", map[string]any{"pm25": 1.0}))
	got := rc.wait(t, 1)
	rc.settle(t, 1)
	if len(got[0].Data) != 1 || got[0].Data[0]["id"] != "urn:ngsi-ld:AirQualityObserved:near" {
		t.Errorf("data = %v", got[0].Data)
	}
}

// TestSubscriptionThrottling: at most one notification per window; the
// changes in between are coalesced to each entity's latest state and
// sent when the window ends.
func TestSubscriptionThrottling(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	n := startNotifier(t, db, nil)
	rc := newNGSIReceiver(t, nil)
	sub := aqSub("throttled", rc.url)
	sub.Throttling = 1
	sub.Notification.Format = cityops.FormatKeyValues
	if err := n.CreateSubscription(sys(), sub); err != nil {
		t.Fatal(err)
	}
	create(t, db, aq("x", map[string]any{"pm25": 1.0}))
	rc.wait(t, 1)
	for v := 2.0; v <= 5; v++ {
		setPM(t, db, "", "x", v)
	}
	create(t, db, aq("y", map[string]any{"pm25": 9.0}))
	got := rc.wait(t, 2)
	rc.settle(t, 2)
	if gap := got[1].at.Sub(got[0].at); gap < 900*time.Millisecond {
		t.Errorf("second notification %v after the first; throttling is 1s", gap)
	}
	b, _ := json.Marshal(got[1].Data)
	if string(b) != `[{"id":"urn:ngsi-ld:AirQualityObserved:x","pm25":5,"type":"AirQualityObserved"},{"id":"urn:ngsi-ld:AirQualityObserved:y","pm25":9,"type":"AirQualityObserved"}]` {
		t.Errorf("coalesced = %s", b)
	}
	if s := n.Stats(); s.Coalesced != 3 || s.Matched != 6 || s.Dropped != 0 {
		t.Errorf("stats = %+v", s)
	}
}

// TestSubscriptionPauseAndExpiry: isActive=false stops notifications
// until it is true again; expiresAt stops them for good.
func TestSubscriptionPauseAndExpiry(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		rc := newNGSIReceiver(t, nil)
		sub := aqSub("paused", rc.url)
		if err := n.CreateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		create(t, db, aq("p", map[string]any{"pm25": 1.0}))
		rc.wait(t, 1)
		sub.Active = false
		if err := n.UpdateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		setPM(t, db, "", "p", 2)
		rc.settle(t, 1)
		sub.Active = true
		if err := n.UpdateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		setPM(t, db, "", "p", 3)
		rc.wait(t, 2)

		rc2 := newNGSIReceiver(t, nil)
		exp := aqSub("expiring", rc2.url)
		exp.ExpiresAt = ptr(time.Now().Add(500 * time.Millisecond))
		if err := n.CreateSubscription(sys(), exp); err != nil {
			t.Fatal(err)
		}
		setPM(t, db, "", "p", 4)
		rc2.wait(t, 1)
		time.Sleep(time.Until(*exp.ExpiresAt) + 50*time.Millisecond)
		setPM(t, db, "", "p", 5)
		rc2.settle(t, 1)
		got, err := n.FindSubscription(sys(), "", exp.ID)
		if err != nil || got.Status(time.Now()) != cityops.SubscriptionExpired {
			t.Errorf("status = %v %v", got, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestSubscriptionRetries: a receiver that fails once gets the retry;
// the status fields show the failure, then the success. One that always
// fails is given up after the attempts, with status failed.
func TestSubscriptionRetries(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		flaky := newNGSIReceiver(t, func(call int) int {
			if call == 1 {
				return 500
			}
			return 200
		})
		down := newNGSIReceiver(t, func(int) int { return 503 })
		s1, s2 := aqSub("flaky", flaky.url), aqSub("down", down.url)
		for _, s := range []*cityops.Subscription{s1, s2} {
			if err := n.CreateSubscription(sys(), s); err != nil {
				t.Fatal(err)
			}
		}
		create(t, db, aq("r", map[string]any{"pm25": 1.0}))
		flaky.wait(t, 1)
		// The counters reach storage in the next flush.
		var got *cityops.Subscription
		deadline := time.Now().Add(10 * time.Second)
		for {
			g1, err1 := n.FindSubscription(sys(), "", s1.ID)
			g2, err2 := n.FindSubscription(sys(), "", s2.ID)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if g1.Notification.TimesSent >= 2 && g2.Notification.TimesSent >= 3 || time.Now().After(deadline) {
				got = g1
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		st := got.Notification
		if st.Status != "ok" || st.TimesSent != 2 || st.TimesFailed != 1 || st.LastFailure == nil || st.LastSuccess == nil ||
			st.LastSuccess.Before(*st.LastFailure) || !st.LastNotification.Equal(*st.LastSuccess) {
			t.Errorf("flaky status = %+v", st)
		}
		got, _ = n.FindSubscription(sys(), "", s2.ID)
		st = got.Notification
		if st.Status != "failed" || st.TimesSent != 3 || st.TimesFailed != 3 || st.LastSuccess != nil {
			t.Errorf("down status = %+v", st)
		}
		down.mu.Lock()
		calls := down.calls
		down.mu.Unlock()
		if calls != 3 {
			t.Errorf("down called %d times, want 3", calls)
		}
		if s := n.Stats(); s.Sent != 5 || s.Failed != 4 || s.Abandoned != 1 {
			t.Errorf("stats = %+v", s)
		}
	})
}

// TestSubscriptionHangingReceiver: a receiver that never answers does not
// slow entity writes; the queue stays bounded and counts what it drops.
func TestSubscriptionHangingReceiver(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	n := startNotifier(t, db, func(n *notify.Notifier) { n.MaxPending = 50; n.Timeout = 30 * time.Second })
	release := make(chan struct{})
	rc := newNGSIReceiver(t, func(int) int { <-release; return 200 })
	t.Cleanup(func() { close(release) })
	if err := n.CreateSubscription(sys(), aqSub("hangs", rc.url)); err != nil {
		t.Fatal(err)
	}
	const total = 300
	list := make([]*cityops.Entity, 0, total)
	for i := range total {
		list = append(list, aq(fmt.Sprint(i), map[string]any{"pm25": float64(i)}))
	}
	start := time.Now()
	create(t, db, list[0])
	rc.mu.Lock()
	for deadline := time.Now().Add(5 * time.Second); rc.calls == 0 && time.Now().Before(deadline); {
		rc.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		rc.mu.Lock()
	}
	rc.mu.Unlock()
	// The first notification now hangs; write the rest one by one.
	for _, e := range list[1:] {
		create(t, db, e)
	}
	for i := range 50 { // update the queued ones again: coalesced, not queued twice
		setPM(t, db, "", fmt.Sprint(i+1), 1000)
	}
	elapsed := time.Since(start)
	if elapsed > 15*time.Second {
		t.Errorf("%d writes took %v while the receiver hung", total+50, elapsed)
	}
	s := n.Stats()
	if s.Pending != 50 || s.Dropped != total-1-50 || s.Coalesced != 50 || s.Matched != total+50 {
		t.Errorf("stats = %+v (took %v)", s, elapsed)
	}
}

// TestSubscriptionTenants: a tenant's subscriptions see only its entities,
// and notifications say which tenant.
func TestSubscriptionTenants(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		rc := newNGSIReceiver(t, nil)
		sub := aqSub("tenant", rc.url)
		sub.Tenant = "hoi-an"
		if err := n.CreateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		create(t, db, aq("t", map[string]any{"pm25": 1.0}))
		e := aq("t", map[string]any{"pm25": 2.0})
		e.Tenant = "hoi-an"
		create(t, db, e)
		got := rc.wait(t, 1)
		rc.settle(t, 1)
		if got[0].header.Get("NGSILD-Tenant") != "hoi-an" {
			t.Errorf("tenant header = %q", got[0].header.Get("NGSILD-Tenant"))
		}
		if pm, _ := got[0].Data[0]["pm25"].(map[string]any); pm["value"] != 2.0 {
			t.Errorf("data = %v", got[0].Data)
		}
	})
}

// TestSubscriptionTriggers: entityDeleted sends the id, type and
// deletedAt; attributeDeleted fires on removing a watched attribute;
// entityCreated alone ignores updates.
func TestSubscriptionTriggers(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	n := startNotifier(t, db, nil)
	rc := newNGSIReceiver(t, nil)
	del := aqSub("deleted", rc.url)
	del.Triggers = []string{cityops.TriggerEntityDeleted, cityops.TriggerAttributeDeleted}
	del.WatchedAttributes = []string{no2}
	if err := n.CreateSubscription(sys(), del); err != nil {
		t.Fatal(err)
	}
	rcNew := newNGSIReceiver(t, nil)
	created := aqSub("created", rcNew.url)
	created.Triggers = []string{cityops.TriggerEntityCreated}
	if err := n.CreateSubscription(sys(), created); err != nil {
		t.Fatal(err)
	}
	create(t, db, aq("d", map[string]any{"pm25": 1.0, "no2": 2.0}))
	rcNew.wait(t, 1)
	setPM(t, db, "", "d", 2)
	if err := db.DeleteAttr(context.Background(), "", "urn:ngsi-ld:AirQualityObserved:d", pm25, "", true); err != nil { // not watched
		t.Fatal(err)
	}
	rc.settle(t, 0)
	if err := db.DeleteAttr(context.Background(), "", "urn:ngsi-ld:AirQualityObserved:d", no2, "", true); err != nil {
		t.Fatal(err)
	}
	got := rc.wait(t, 1)
	if err := db.DeleteEntity(context.Background(), "", "urn:ngsi-ld:AirQualityObserved:d"); err != nil {
		t.Fatal(err)
	}
	got = rc.wait(t, 2)
	rc.settle(t, 2)
	rcNew.settle(t, 1)
	e := got[1].Data[0]
	if len(e) != 3 || e["id"] != "urn:ngsi-ld:AirQualityObserved:d" || e["type"] != "AirQualityObserved" || e["deletedAt"] == nil {
		t.Errorf("deleted = %v", e)
	}
}

// TestSubscriptionPeriodic: a subscription with timeInterval is sent the
// matching entities as they are, every interval, and not on changes.
func TestSubscriptionPeriodic(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		rc := newNGSIReceiver(t, nil)
		create(t, db, aq("p1", map[string]any{"pm25": 10.0}))
		create(t, db, aq("p2", map[string]any{"pm25": 50.0}))
		create(t, db, aq("p3", map[string]any{"pm25": 60.0}))
		sub := aqSub("periodic", rc.url)
		sub.TimeInterval = 1
		sub.Q = "pm25>20"
		sub.Entities[0].IDPattern = "p[12]$"
		sub.Notification.Format = cityops.FormatKeyValues
		if err := n.CreateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		first := rc.wait(t, 1)
		setPM(t, db, "", "p1", 30) // matches from now on, at the next round
		setPM(t, db, "", "p2", 55)
		got := rc.wait(t, 2)
		rc.settle(t, 2)
		if gap := got[1].at.Sub(first[0].at); gap < 900*time.Millisecond {
			t.Errorf("second round %v after the first; the interval is 1s", gap)
		}
		for i, want := range []string{
			`[{"id":"urn:ngsi-ld:AirQualityObserved:p2","pm25":50,"type":"AirQualityObserved"}]`,
			`[{"id":"urn:ngsi-ld:AirQualityObserved:p1","pm25":30,"type":"AirQualityObserved"},{"id":"urn:ngsi-ld:AirQualityObserved:p2","pm25":55,"type":"AirQualityObserved"}]`,
		} {
			if b, _ := json.Marshal(got[i].Data); string(b) != want {
				t.Errorf("round %d = %s", i+1, b)
			}
		}
		// Paused, it stops.
		sub.Active = false
		if err := n.UpdateSubscription(sys(), sub); err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		before := len(rc.got)
		rc.mu.Unlock()
		time.Sleep(1300 * time.Millisecond)
		rc.settle(t, before)
	})
}

// TestSubscriptionAttributeCreated: attributeCreated hears of attributes
// an update adds, on every write path, and attributeUpdated of those it
// writes again.
func TestSubscriptionAttributeCreated(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		n := startNotifier(t, db, nil)
		rcNew, rcUpd := newNGSIReceiver(t, nil), newNGSIReceiver(t, nil)
		added := aqSub("added", rcNew.url)
		added.Triggers = []string{cityops.TriggerAttributeCreated}
		updated := aqSub("updated", rcUpd.url)
		updated.Triggers = []string{cityops.TriggerAttributeUpdated}
		for _, s := range []*cityops.Subscription{added, updated} {
			if err := n.CreateSubscription(sys(), s); err != nil {
				t.Fatal(err)
			}
		}
		create(t, db, aq("c", map[string]any{"pm25": 1.0}))
		rcNew.wait(t, 1) // a creation creates its attributes
		setPM(t, db, "", "c", 2)
		rcUpd.wait(t, 1)
		ctx := context.Background()
		if _, err := db.AppendAttrs(ctx, "", "urn:ngsi-ld:AirQualityObserved:c", map[string][]cityops.Attr{no2: {{"type": "Property", "value": 5.0}}}, false); err != nil {
			t.Fatal(err)
		}
		rcNew.wait(t, 2)
		// Through the batch path: one new attribute, one written again.
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{aq("c", map[string]any{"o3": 7.0})}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		rcNew.wait(t, 3)
		if errs, err := db.UpsertEntities(ctx, "", []*cityops.Entity{aq("c", map[string]any{"o3": 8.0})}, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		rcUpd.wait(t, 2)
		rcNew.settle(t, 3)
		rcUpd.settle(t, 2)
	})
}
