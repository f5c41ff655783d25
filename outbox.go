package cityops

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// OutboxEvent is something that happened to a report, written in the same
// transaction as the change itself, so that no notification is lost when
// the process dies between the change and the sending.
type OutboxEvent struct {
	ID       int64     `json:"id"`
	Type     string    `json:"type"` // "report.created" or "report." + the action
	Tracking string    `json:"tracking"`
	Status   string    `json:"status"`
	Agency   string    `json:"agency,omitempty"`
	Area     string    `json:"area,omitempty"`
	Category string    `json:"category"`
	Sector   string    `json:"sector"`
	Note     string    `json:"note,omitempty"` // the public note only
	At       time.Time `json:"at"`
	// Internal events (notes, transfer requests) go to staff only.
	Internal bool `json:"internal,omitempty"`
}

// Delivery kinds.
const (
	DeliveryWebhook = "webhook"
	DeliveryEmail   = "email"
)

// Delivery is one event to send to one place (a webhook, an e-mail
// address), retried with back-off until it succeeds or runs out of tries.
type Delivery struct {
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Target    string          `json:"target"` // URL, e-mail address, or "reporter": the report's (read when sending)
	WebhookID int64           `json:"webhook_id,omitempty"`
	EventID   int64           `json:"event_id"`
	Payload   json.RawMessage `json:"payload"`
	Attempts  int             `json:"attempts"`
	Status    string          `json:"status"` // pending, delivered, failed
	LastError string          `json:"last_error,omitempty"`
	NextAt    time.Time       `json:"next_at"`
	CreatedAt time.Time       `json:"created_at"`
	// Secret signs webhook payloads; never shown.
	Secret string `json:"-"`
}

// Webhook sends report events to an agency's own system (or, without an
// agency, every event to the centre's). Payloads are signed with the
// secret (HMAC-SHA256) so the receiver can trust them.
type Webhook struct {
	ID        int64     `json:"id"`
	Agency    string    `json:"agency,omitempty"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"` // write-only: accepted, never returned
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks a webhook's fields.
func (w *Webhook) Validate() error {
	var v Validation
	u, err := url.Parse(w.URL)
	v.Check(err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "", "url", "must be an http(s) URL")
	v.Check(len(w.URL) <= 2000, "url", "is longer than 2000 characters")
	v.Check(len(strings.TrimSpace(w.Secret)) >= 16, "secret", "must be at least 16 characters")
	return v.Err()
}

// OutboxService feeds the notification workers and live streams.
type OutboxService interface {
	// OutboxAfter returns events with ID > after, oldest first.
	OutboxAfter(ctx context.Context, after int64, limit int) ([]*OutboxEvent, error)
	// LastOutboxID returns the newest event's ID (0 when none).
	LastOutboxID(ctx context.Context) (int64, error)
	// FanOut turns new events into deliveries for the webhooks and
	// reporters concerned and advances its cursor, in one transaction.
	FanOut(ctx context.Context, limit int) (int, error)
	// ClaimDeliveries leases due deliveries to this worker for lease.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]*Delivery, error)
	// FinishDelivery records an attempt: nil error means delivered;
	// otherwise it is retried with back-off, or failed after the last try.
	FinishDelivery(ctx context.Context, id int64, attemptErr error) error
	// Webhooks.
	FindWebhooks(ctx context.Context) ([]*Webhook, error)
	CreateWebhook(ctx context.Context, w *Webhook) error
	DeleteWebhook(ctx context.Context, id int64) error
	FindDeliveries(ctx context.Context, status string, limit int) ([]*Delivery, error)
}
