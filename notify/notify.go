// Package notify sends what the outbox records: signed webhooks to
// agencies' systems, e-mail to reporters, and a live stream of events to
// staff consoles. It reads only from the database, so any number of
// cityops processes can run it against one PostgreSQL, and an event
// written before a crash is sent after the restart.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/i18n"
)

// Timers runs the clock-driven workflow (deadline warnings, escalation,
// closing after the confirmation period) every interval until ctx ends.
func Timers(ctx context.Context, t cityops.TimerService, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := t.RunTimers(ctx); err != nil && ctx.Err() == nil {
			log.Error("timers", "err", err)
		} else if n > 0 {
			log.Info("timers", "reports", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Worker fans events out into deliveries and makes the deliveries.
type Worker struct {
	Outbox cityops.OutboxService
	Client *http.Client
	// SMTPAddr is the mail server (host:port); empty turns e-mail off.
	SMTPAddr string
	SMTPFrom string
	// PublicURL is where citizens find cityops, for links in e-mails.
	PublicURL string
	Catalog   *i18n.Catalog
	Log       *slog.Logger
	// Interval is how often the worker looks for work.
	Interval time.Duration
	// Now is the clock, for signatures.
	Now func() time.Time
}

// Run works until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		if err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.Log.Error("notify", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once fans out all new events and makes the deliveries that are due.
func (w *Worker) Once(ctx context.Context) error {
	for {
		n, err := w.Outbox.FanOut(ctx, 500)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for {
		list, err := w.Outbox.ClaimDeliveries(ctx, 50, 5*time.Minute)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return nil
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, d := range list {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				err := w.deliver(ctx, d)
				if err != nil {
					w.Log.Warn("delivery failed", "id", d.ID, "kind", d.Kind, "attempt", d.Attempts+1, "err", err)
				}
				if ferr := w.Outbox.FinishDelivery(ctx, d.ID, err); ferr != nil {
					w.Log.Error("finish delivery", "id", d.ID, "err", ferr)
				}
			}()
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (w *Worker) deliver(ctx context.Context, d *cityops.Delivery) error {
	switch d.Kind {
	case cityops.DeliveryWebhook:
		return w.webhook(ctx, d)
	case cityops.DeliveryEmail:
		return w.email(d)
	}
	return fmt.Errorf("unknown delivery kind %q", d.Kind)
}

// Sign returns the signature of a webhook body: HMAC-SHA256 over
// "<timestamp>.<body>" with the webhook's secret, hex-encoded. Receivers
// recompute it and reject old timestamps, which stops replays.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *Worker) webhook(ctx context.Context, d *cityops.Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ev cityops.OutboxEvent
	json.Unmarshal(d.Payload, &ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target, bytes.NewReader(d.Payload))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cityops-webhook/1")
	req.Header.Set("X-Cityops-Event", ev.Type)
	req.Header.Set("X-Cityops-Delivery", strconv.FormatInt(d.ID, 10))
	req.Header.Set("X-Cityops-Timestamp", ts)
	req.Header.Set("X-Cityops-Signature", Sign(d.Secret, ts, d.Payload))
	res, err := w.Client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", res.Status)
	}
	return nil
}

// email tells a reporter about their report, in Vietnamese and English.
func (w *Worker) email(d *cityops.Delivery) error {
	if w.SMTPAddr == "" {
		return fmt.Errorf("no mail server configured (-smtp)")
	}
	var ev cityops.OutboxEvent
	if err := json.Unmarshal(d.Payload, &ev); err != nil {
		return err
	}
	if strings.ContainsAny(d.Target, "\r\n") {
		return fmt.Errorf("bad address")
	}
	base := strings.TrimSuffix(w.PublicURL, "/")
	link, key := base+"/r/"+ev.Tracking, "mail.body"
	subject := w.Catalog.T("vi", "mail.subject", ev.Tracking, w.Catalog.T("vi", "status."+ev.Status))
	if ev.Internal { // an escalation, to staff
		link, key = base+"/staff/reports/"+ev.Tracking, "mail.overdue"
		subject = w.Catalog.T("vi", "mail.overdue_subject", ev.Tracking)
	}
	var body strings.Builder
	for _, lang := range []string{"vi", "en"} {
		body.WriteString(w.Catalog.T(lang, key, ev.Tracking, w.Catalog.T(lang, "status."+ev.Status)) + "\r\n")
		if ev.Note != "" {
			body.WriteString(ev.Note + "\r\n")
		}
		body.WriteString(link + "\r\n\r\n")
	}
	return SendMail(w.SMTPAddr, w.SMTPFrom, d.Target, subject, body.String(), w.Now(), "delivery-"+strconv.FormatInt(d.ID, 10))
}

// SendMail sends a plain-text UTF-8 e-mail through the mail server at
// addr. msgID, when not empty, makes the Message-ID (so that a retried
// delivery is recognised as the same message).
func SendMail(addr, from, to, subject, body string, now time.Time, msgID string) error {
	if strings.ContainsAny(to+from, "\r\n") {
		return fmt.Errorf("bad address")
	}
	msg := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + now.Format(time.RFC1123Z)
	if msgID != "" {
		msg += "\r\nMessage-ID: <" + msgID + "@cityops>"
	}
	msg += "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
	return smtp.SendMail(addr, nil, from, []string{to}, []byte(msg))
}
