package notify_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/i18n"
	"github.com/cityops/cityops/notify"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

func sys() context.Context {
	return cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
}

// receiver is an agency's system on a loopback port: it records what it
// gets and answers with the status fail says.
type receiver struct {
	mu   sync.Mutex
	got  []http.Header
	body [][]byte
	fail int // answer 500 this many times first
	url  string
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.fail > 0 {
			rc.fail--
			w.WriteHeader(500)
			return
		}
		rc.got = append(rc.got, r.Header.Clone())
		rc.body = append(rc.body, b)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.url = "http://" + ln.Addr().String() + "/hook"
	return rc
}

// smtpReceiver is a minimal local mail server that keeps what it receives
// (e-mail delivery itself is outside this machine).
type smtpReceiver struct {
	mu   sync.Mutex
	msgs []string
	addr string
}

func newSMTP(t *testing.T) *smtpReceiver {
	s := &smtpReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpReceiver) serve(c net.Conn) {
	defer c.Close()
	rd := bufio.NewReader(c)
	say := func(l string) { io.WriteString(c, l+"\r\n") }
	say("220 localhost test")
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 localhost")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			say("250 OK")
		case cmd == "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, msg.String())
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func TestWebhooksAndEmail(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		if _, err := demo.Load(sys(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		hepco := newReceiver(t, 0)
		centre := newReceiver(t, 2)
		if err := db.CreateWebhook(sys(), &cityops.Webhook{Agency: "HEPCO", URL: hepco.url, Secret: "hepco-secret-0123456789"}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateWebhook(sys(), &cityops.Webhook{URL: centre.url, Secret: "centre-secret-0123456789"}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateWebhook(sys(), &cityops.Webhook{URL: "ftp://x", Secret: "short"}); cityops.ErrorCode(err) != cityops.EINVALID {
			t.Fatalf("bad webhook: %v", err)
		}
		mail := newSMTP(t)
		cat, _ := i18n.Load("")
		w := &notify.Worker{Outbox: db, Client: &http.Client{Timeout: 5 * time.Second}, SMTPAddr: mail.addr, SMTPFrom: "cityops@hue.gov.vn",
			PublicURL: "https://phananh.hue.gov.vn", Catalog: cat, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}

		lat, lon := 16.474, 107.578
		r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "Rác",
			Lat: &lat, Lon: &lon, Email: "dan@example.vn", Consent: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []cityops.Action{{Name: cityops.ActAccept}, {Name: cityops.ActComment, Note: "gọi xe"}, {Name: cityops.ActResolve, Note: "Đã thu gom"}} {
			if _, err := db.Act(sys(), r.Tracking, a); err != nil {
				t.Fatal(err)
			}
		}
		// A worker that dies after claiming leaves its claims to others once the lease ends.
		claimed, err := db.ClaimDeliveries(sys(), 10, time.Minute)
		if err != nil || len(claimed) != 0 {
			t.Fatalf("claims before fan-out = %d, %v", len(claimed), err)
		}
		if n, err := db.FanOut(sys(), 100); err != nil || n != 4+4+2 {
			t.Fatalf("fan-out = %d, %v; want 4 events to each webhook and 2 e-mails", n, err)
		}
		if n, _ := db.FanOut(sys(), 100); n != 0 {
			t.Fatalf("second fan-out made %d deliveries; each event fans out once", n)
		}
		claimed, _ = db.ClaimDeliveries(sys(), 3, time.Minute)
		if len(claimed) != 3 {
			t.Fatalf("claimed %d", len(claimed))
		}
		if err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		hepco.mu.Lock()
		n := len(hepco.body)
		hepco.mu.Unlock()
		if n >= 4 {
			t.Fatalf("HEPCO got %d deliveries while 3 claims were still leased", n)
		}
		now = now.Add(2 * time.Minute) // the lease ends
		if err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		hepco.mu.Lock()
		if len(hepco.body) != 4 {
			t.Fatalf("HEPCO got %d deliveries, want 4", len(hepco.body))
		}
		types := map[string]bool{}
		for i, h := range hepco.got {
			want := notify.Sign("hepco-secret-0123456789", h.Get("X-Cityops-Timestamp"), hepco.body[i])
			if !hmac.Equal([]byte(h.Get("X-Cityops-Signature")), []byte(want)) {
				t.Errorf("delivery %d: bad signature", i)
			}
			var ev cityops.OutboxEvent
			json.Unmarshal(hepco.body[i], &ev)
			types[ev.Type] = true
			if strings.Contains(string(hepco.body[i]), "dan@example.vn") {
				t.Error("webhook payload carries the reporter's e-mail")
			}
		}
		hepco.mu.Unlock()
		// Deliveries run in parallel: receivers order events by id.
		if len(types) != 4 || !types["report.created"] || !types["report.resolve"] {
			t.Errorf("HEPCO event types = %v", types)
		}
		// The centre's endpoint failed twice: those were retried after the back-off.
		delivered, _ := db.FindDeliveries(sys(), "delivered", 100)
		retried := 0
		for _, d := range delivered {
			if d.Attempts == 2 {
				retried++
			}
		}
		if retried != 2 {
			t.Errorf("%d deliveries took two attempts, want 2", retried)
		}
		for i := 0; i < 3; i++ {
			now = now.Add(time.Hour)
			if err := w.Once(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		centre.mu.Lock()
		if len(centre.body) != 4 {
			t.Errorf("centre got %d deliveries after retries, want 4", len(centre.body))
		}
		centre.mu.Unlock()
		if pending, _ := db.FindDeliveries(sys(), "pending", 10); len(pending) != 0 {
			t.Errorf("%d deliveries still pending", len(pending))
		}
		// The reporter got two e-mails: received, and resolved.
		mail.mu.Lock()
		defer mail.mu.Unlock()
		if len(mail.msgs) != 2 {
			t.Fatalf("%d e-mails, want 2", len(mail.msgs))
		}
		m := strings.Join(mail.msgs, "\n----\n")
		for _, want := range []string{"To: dan@example.vn", "Subject: =?utf-8?q?", "https://phananh.hue.gov.vn/r/" + r.Tracking, "Đã thu gom", "Content-Type: text/plain; charset=utf-8"} {
			if !strings.Contains(m, want) {
				t.Errorf("e-mail lacks %q:\n%s", want, m)
			}
		}
	})
}

func TestDeliveryGivesUp(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	if _, err := demo.Load(sys(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return now }
	dead := newReceiver(t, 1000)
	if err := db.CreateWebhook(sys(), &cityops.Webhook{URL: dead.url, Secret: "dead-secret-0123456789"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "a"}); err != nil {
		t.Fatal(err)
	}
	cat, _ := i18n.Load("")
	w := &notify.Worker{Outbox: db, Client: &http.Client{Timeout: 5 * time.Second}, Catalog: cat,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}
	for i := 0; i < storage.MaxDeliveryAttempts+2; i++ {
		if err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Hour)
	}
	failed, _ := db.FindDeliveries(sys(), "failed", 10)
	if len(failed) != 1 || failed[0].Attempts != storage.MaxDeliveryAttempts || !strings.Contains(failed[0].LastError, "500") {
		t.Fatalf("failed deliveries = %+v", failed)
	}
}

func TestHub(t *testing.T) {
	db := storagetest.Open(t, storage.SQLite)
	if _, err := demo.Load(sys(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db}); err != nil {
		t.Fatal(err)
	}
	h := &notify.Hub{Outbox: db, Interval: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	c, leave := h.Subscribe()
	defer leave()
	time.Sleep(50 * time.Millisecond)
	r, _, err := db.CreateReport(context.Background(), &cityops.ReportInput{Category: "environment.waste", Description: "x", Address: "a"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-c:
		if e.Tracking != r.Tracking || e.Type != "report.created" {
			t.Fatalf("event = %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the hub within 5 s")
	}
}
