package http_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// readEvents reads SSE "data:" lines from a stream into a channel.
func readEvents(body io.Reader) <-chan string {
	c := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				c <- d
			}
		}
		close(c)
	}()
	return c
}

func TestEventStream(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	ts := newTestServer(t, db)
	if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
	hub := &notify.Hub{Outbox: db, Interval: 25 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)
	time.Sleep(60 * time.Millisecond)
	ts.Server.Events = hub

	open := func(session, lastID string) (*http.Response, <-chan string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.url+"/api/v1/stream", nil)
		req.AddCookie(&http.Cookie{Name: "cityops_session", Value: session})
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res, readEvents(res.Body)
	}
	hepco := staff(ts, cityops.RoleAgencyOfficer, "HEPCO")
	syt := staff(ts, cityops.RoleAgencyOfficer, "SYT")
	res, hepcoEvents := open(hepco, "")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	_, sytEvents := open(syt, "")
	time.Sleep(50 * time.Millisecond)
	lat, lon := 16.474, 107.578
	r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Lat: &lat, Lon: &lon})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case d := <-hepcoEvents:
		if !strings.Contains(d, r.Tracking) || !strings.Contains(d, `"type":"report.created"`) {
			t.Fatalf("event = %s", d)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("event took %v to arrive", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("HEPCO got no event")
	}
	select {
	case d := <-sytEvents:
		t.Errorf("SYT got another agency's event: %s", d)
	case <-time.After(200 * time.Millisecond):
	}
	// A reconnect with Last-Event-ID gets what came after that id.
	if _, err := db.Act(sysCtx(), r.Tracking, cityops.Action{Name: cityops.ActAccept}); err != nil {
		t.Fatal(err)
	}
	_, replay := open(hepco, "1")
	select {
	case d := <-replay:
		if !strings.Contains(d, `"type":"report.accept"`) {
			t.Errorf("replayed event = %s; want the accept after id 1", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no replay")
	}
	if res, _ := ts.do("GET", "/api/v1/stream", "", ""); res.StatusCode != 401 {
		t.Errorf("anonymous stream = %d", res.StatusCode)
	}
}
