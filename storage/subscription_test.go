package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func testSubscription(id string) *cityops.Subscription {
	return &cityops.Subscription{
		ID: id, Active: true, Name: "pm25 alerts",
		Entities:          []cityops.EntitySelector{{Type: aqType, IDPattern: "^urn:ngsi-ld:AirQualityObserved:hue-"}},
		WatchedAttributes: []string{pm25},
		Q:                 "pm25>35",
		Context:           []byte(`"https://smartdatamodels.org/context.jsonld"`),
		Notification: cityops.NotificationParams{Format: cityops.FormatKeyValues, Attributes: []string{pm25},
			Endpoint: cityops.Endpoint{URI: "http://127.0.0.1:9/notify", Accept: "application/json",
				ReceiverInfo: []cityops.KeyValue{{Key: "Authorization", Value: "Bearer x"}}}},
	}
}

func TestSubscriptions(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := sys()
		now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }

		s := testSubscription("urn:ngsi-ld:Subscription:pm25")
		if err := db.CreateSubscription(ctx, s); err != nil {
			t.Fatal(err)
		}
		if !s.CreatedAt.Equal(now) {
			t.Errorf("createdAt = %v", s.CreatedAt)
		}
		wantCode(t, db.CreateSubscription(ctx, testSubscription(s.ID)), cityops.ECONFLICT)
		// The same id in another tenant is another subscription.
		other := testSubscription(s.ID)
		other.Tenant = "hoi-an"
		if err := db.CreateSubscription(ctx, other); err != nil {
			t.Fatal(err)
		}
		// No id: one is made.
		anon := testSubscription("")
		if err := db.CreateSubscription(ctx, anon); err != nil || !strings.HasPrefix(anon.ID, "urn:ngsi-ld:Subscription:") {
			t.Fatalf("generated id = %q, %v", anon.ID, err)
		}

		got, err := db.FindSubscription(ctx, "", s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != s.Name || got.Q != s.Q || got.Entities[0] != s.Entities[0] || got.Notification.Endpoint.ReceiverInfo[0].Value != "Bearer x" ||
			string(got.Context) != string(s.Context) || !got.Active || got.Tenant != "" || got.Notification.Status != "" {
			t.Errorf("found %+v", got)
		}
		_, err = db.FindSubscription(ctx, "", "urn:ngsi-ld:Subscription:nope")
		wantCode(t, err, cityops.ENOTFOUND)
		_, err = db.FindSubscription(ctx, "other", s.ID)
		wantCode(t, err, cityops.ENOTFOUND)

		list, total, err := db.FindSubscriptions(ctx, "", 0, 1)
		if err != nil || total != 2 || len(list) != 1 || list[0].ID != s.ID {
			t.Fatalf("list = %d %d %v", len(list), total, err)
		}
		list, _, _ = db.FindSubscriptions(ctx, "", 1, 10)
		if len(list) != 1 || list[0].ID != anon.ID {
			t.Errorf("page 2 = %v", list)
		}

		// Invalid ones, and expiry in the past.
		bad := testSubscription("not a uri")
		bad.Notification.Endpoint.URI = "ftp://x"
		err = db.CreateSubscription(ctx, bad)
		if f := cityops.ErrorFields(err); f["id"] == "" || f["notification.endpoint.uri"] == "" {
			t.Errorf("invalid = %v", err)
		}
		past := testSubscription("urn:ngsi-ld:Subscription:past")
		past.ExpiresAt = ptr(now.Add(-time.Minute))
		wantCode(t, db.CreateSubscription(ctx, past), cityops.EINVALID)

		// Update: optimistic, by modifiedAt.
		now = now.Add(time.Minute)
		got.Active = false
		got.Throttling = 5
		if err := db.UpdateSubscription(ctx, got); err != nil {
			t.Fatal(err)
		}
		stale := *got
		stale.ModifiedAt = s.ModifiedAt
		wantCode(t, db.UpdateSubscription(ctx, &stale), cityops.ECONFLICT)
		missing := *got
		missing.ID = "urn:ngsi-ld:Subscription:nope"
		wantCode(t, db.UpdateSubscription(ctx, &missing), cityops.ENOTFOUND)
		got, _ = db.FindSubscription(ctx, "", s.ID)
		if got.Active || got.Throttling != 5 || !got.ModifiedAt.Equal(now) || got.Status(now) != cityops.SubscriptionPaused {
			t.Errorf("updated = %+v", got)
		}

		// Only active ones reach the notifier, from every tenant.
		active, err := db.ActiveSubscriptions(context.Background())
		if err != nil || len(active) != 2 {
			t.Fatalf("active = %d %v", len(active), err)
		}
		tenants := map[string]bool{}
		for _, a := range active {
			tenants[a.Tenant] = true
		}
		if !tenants[""] || !tenants["hoi-an"] {
			t.Errorf("active tenants = %v", tenants)
		}

		// Delivery counters add up, and null times leave stored ones.
		t1, t2 := now.Add(time.Second), now.Add(2*time.Second)
		err = db.RecordNotifications(ctx, []cityops.NotificationResult{
			{ID: s.ID, Sent: 2, Failed: 1, LastNotification: t2, LastFailure: t1, LastSuccess: t2, Status: "ok"},
			{ID: "urn:ngsi-ld:Subscription:deleted-meanwhile", Sent: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RecordNotifications(ctx, []cityops.NotificationResult{{ID: s.ID, Sent: 1, Failed: 1, LastNotification: t2.Add(time.Second),
			LastFailure: t2.Add(time.Second), Status: "failed"}}); err != nil {
			t.Fatal(err)
		}
		got, _ = db.FindSubscription(ctx, "", s.ID)
		n := got.Notification
		if n.TimesSent != 3 || n.TimesFailed != 2 || n.Status != "failed" || !n.LastSuccess.Equal(t2) || !n.LastFailure.Equal(t2.Add(time.Second)) {
			t.Errorf("status = %+v", n)
		}
		other, _ = db.FindSubscription(ctx, "hoi-an", s.ID)
		if other.Notification.TimesSent != 0 {
			t.Errorf("the other tenant's counters moved: %+v", other.Notification)
		}

		// The version changes with every change.
		v1, _ := db.SubscriptionsVersion(ctx)
		if err := db.DeleteSubscription(ctx, "", anon.ID); err != nil {
			t.Fatal(err)
		}
		v2, _ := db.SubscriptionsVersion(ctx)
		wantCode(t, db.DeleteSubscription(ctx, "", anon.ID), cityops.ENOTFOUND)
		now = now.Add(time.Minute)
		got.Active = true
		if err := db.UpdateSubscription(ctx, got); err != nil {
			t.Fatal(err)
		}
		v3, _ := db.SubscriptionsVersion(ctx)
		if v1 == v2 || v2 == v3 {
			t.Errorf("versions %s %s %s", v1, v2, v3)
		}
	})
}

func TestSubscriptionsNeedPermission(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	reader := cityops.NewContextWithActor(context.Background(), &cityops.Actor{APIKey: &cityops.APIKey{Scopes: []string{"data:read"}}})
	wantCode(t, db.CreateSubscription(reader, testSubscription("urn:ngsi-ld:Subscription:x")), cityops.EFORBIDDEN)
	wantCode(t, db.CreateSubscription(context.Background(), testSubscription("urn:ngsi-ld:Subscription:x")), cityops.EUNAUTHORIZED)
	if _, _, err := db.FindSubscriptions(reader, "", 0, 10); err != nil {
		t.Errorf("a reader may list: %v", err)
	}
}
