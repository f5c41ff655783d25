package cityops

import (
	"context"
	"regexp"
	"time"
)

// Device is a sensor or gateway that sends measurements over MQTT (or
// HTTP) in the manner of FIWARE's IoT Agent JSON: it publishes
// {"t": 21.5, "h": 60} on /{key}/{deviceId}/attrs, and cityops writes the
// mapped attributes into the entity the device feeds.
type Device struct {
	ID     string `json:"id"`  // the device id in the topic
	Key    string `json:"key"` // the service key in the topic (routing, not a secret: the broker authenticates)
	Tenant string `json:"tenant,omitempty"`
	// EntityID and EntityType name the entity the device feeds; the type
	// is expanded (an IRI, or a short name of the default context).
	EntityID   string `json:"entity_id"`
	EntityType string `json:"entity_type"`
	Agency     string `json:"agency,omitempty"` // the owner
	// Attrs maps payload keys to entity attributes.
	Attrs      []DeviceAttr `json:"attrs"`
	LastSeenAt *time.Time   `json:"last_seen_at,omitempty"`
	// NotObservedSince is set when the device has been silent longer than
	// allowed, from the moment it was last heard (or registered).
	NotObservedSince *time.Time `json:"not_observed_since,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
}

// DeviceAttr maps one measurement to one entity attribute.
type DeviceAttr struct {
	ObjectID string `json:"object_id"` // key in the payload
	Name     string `json:"name"`      // entity attribute (expanded)
	UnitCode string `json:"unit_code,omitempty"`
}

var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// Validate checks a device's fields.
func (d *Device) Validate() error {
	var v Validation
	v.Check(deviceIDRE.MatchString(d.ID), "id", "must be 1–128 letters, digits, '_', '.', ':' or '-' (it appears in MQTT topics)")
	v.Check(deviceIDRE.MatchString(d.Key), "key", "must be 1–128 letters, digits, '_', '.', ':' or '-' (it appears in MQTT topics)")
	v.Check(ValidTenant(d.Tenant), "tenant", "must be 1–64 letters, digits, '_' or '-' (empty for the default tenant)")
	v.Check(ValidURI(d.EntityID), "entity_id", "must be a URI")
	v.Check(d.EntityType != "", "entity_type", "is required")
	v.Check(len(d.Attrs) > 0 && len(d.Attrs) <= 100, "attrs", "map 1 to 100 measurements")
	seen := map[string]bool{}
	for _, a := range d.Attrs {
		v.Check(a.ObjectID != "" && len(a.ObjectID) <= 64 && !seen[a.ObjectID], "attrs", "object ids must be unique and 1–64 characters")
		v.Check(a.Name != "", "attrs", "each measurement needs an attribute name")
		seen[a.ObjectID] = true
	}
	return v.Err()
}

// Measurement is one message of a device: its payload (payload key →
// value, as mapped by the device's Attrs), observed at At.
type Measurement struct {
	Key, DeviceID string
	Payload       map[string]any
	At            time.Time
	// Previewed: the listeners of previews (the alarm engine) have seen
	// it as it arrived, before it was written (storage.DB.PreviewMeasurement).
	Previewed bool
}

// DeviceService registers devices and takes their measurements.
type DeviceService interface {
	// CreateDevice returns EINVALID, ECONFLICT (key and id in use).
	CreateDevice(ctx context.Context, d *Device) error
	FindDevices(ctx context.Context) ([]*Device, error)
	// DeleteDevice returns ENOTFOUND.
	DeleteDevice(ctx context.Context, key, id string) error
	// Measure writes a device's measurements (payload key → value) as
	// attributes of its entity, observed at t, creating the entity the
	// first time. ENOTFOUND for an unknown device, EINVALID when no key of
	// the payload is mapped.
	Measure(ctx context.Context, key, id string, payload map[string]any, t time.Time) error
	// MeasureBatch writes many measurements in one transaction, as MQTT
	// ingestion does at thousands a second. errs holds one entry per
	// measurement, nil for those written and an error as Measure's
	// (ENOTFOUND, EINVALID; EINTERNAL when its write failed for a reason
	// not its own) for the others, which do not stop the rest. Several measurements of one entity are all kept
	// in its history, the last one in the list giving its current value.
	// When err is not nil nothing was written and errs is nil.
	MeasureBatch(ctx context.Context, list []Measurement) (errs []error, err error)
	// MarkSilentDevices raises the "not observed" condition on devices not
	// heard from (or, never heard, registered) longer than after ago, and
	// returns how many it marked. A measurement clears the condition.
	MarkSilentDevices(ctx context.Context, after time.Duration) (int, error)
}
