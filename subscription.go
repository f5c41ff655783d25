package cityops

import (
	"context"
	"encoding/json"
	"fmt"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Subscription is an NGSI-LD subscription (ETSI GS CIM 009 clause 5.2.12):
// a client's standing request to be told, at an HTTP endpoint, when
// entities it cares about change. Names (entity types, attributes, the
// geoproperty) are kept expanded, like Entity's; the HTTP layer expands
// and compacts them with the request's @context, the notifier compacts
// them with the subscription's own.
type Subscription struct {
	ID          string `json:"id"` // a URI; urn:ngsi-ld:Subscription:<random> when the client gives none
	Tenant      string `json:"-"`
	Name        string `json:"subscriptionName,omitempty"`
	Description string `json:"description,omitempty"`
	// Entities selects the entities watched; empty watches every entity
	// that has one of WatchedAttributes.
	Entities []EntitySelector `json:"entities,omitempty"`
	// WatchedAttributes are the attributes whose changes notify (expanded);
	// empty means any attribute.
	WatchedAttributes []string `json:"watchedAttributes,omitempty"`
	// Triggers is the notificationTrigger list; empty means the spec's
	// default, DefaultTriggers.
	Triggers []string `json:"notificationTrigger,omitempty"`
	// Q is an NGSI-LD query (clause 4.9) the entity must match, as the
	// client wrote it; its names are expanded with Context.
	Q    string    `json:"q,omitempty"`
	GeoQ *GeoQuery `json:"geoQ,omitempty"`
	// Active is isActive: false pauses the subscription.
	Active    bool       `json:"isActive"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Throttling is the least time between two notifications, in seconds;
	// changes in between are coalesced into the next one.
	Throttling float64 `json:"throttling,omitempty"`
	// TimeInterval, in seconds, makes the subscription periodic: every
	// interval it is sent the matching entities as they are, whatever
	// changed. It excludes watchedAttributes, notificationTrigger and
	// throttling.
	TimeInterval float64 `json:"timeInterval,omitempty"`
	// Lang is stored and returned; LanguageProperties are sent whole.
	Lang string `json:"lang,omitempty"`
	// JSONLDContext is the URL of the @context to compact notifications
	// with; empty means Context.
	JSONLDContext string `json:"jsonldContext,omitempty"`
	// Context is the @context of the request that created the
	// subscription (a URL, an object or an array, as JSON); nil is the
	// core context.
	Context      json.RawMessage    `json:"@context,omitempty"`
	Notification NotificationParams `json:"notification"`
	CreatedAt    time.Time          `json:"-"`
	ModifiedAt   time.Time          `json:"-"`
}

// EntitySelector picks entities by type and, optionally, by id or by a
// regular expression on the id (id wins when both are given).
type EntitySelector struct {
	ID        string `json:"id,omitempty"`
	IDPattern string `json:"idPattern,omitempty"`
	Type      string `json:"type"` // expanded
}

// GeoQuery is a subscription's geo-query (clause 5.2.13), in the terms of
// the query parameters: Coordinates is the JSON coordinates array.
type GeoQuery struct {
	Geometry    string          `json:"geometry"`
	Coordinates json.RawMessage `json:"coordinates"`
	Georel      string          `json:"georel"`
	Geoproperty string          `json:"geoproperty,omitempty"` // expanded; empty is location
}

// NotificationParams says what a notification carries and where it goes
// (clause 5.2.14). The status fields are kept by the notifier and are
// read-only for clients.
type NotificationParams struct {
	// Attributes limits the entity attributes sent (expanded); empty
	// sends all.
	Attributes []string `json:"attributes,omitempty"`
	Format     string   `json:"format,omitempty"` // FormatNormalized (default), FormatKeyValues or FormatConcise
	SysAttrs   bool     `json:"sysAttrs,omitempty"`
	Endpoint   Endpoint `json:"endpoint"`

	Status           string     `json:"-"` // "ok", "failed", or "" before the first notification
	TimesSent        int64      `json:"-"`
	TimesFailed      int64      `json:"-"`
	LastNotification *time.Time `json:"-"`
	LastFailure      *time.Time `json:"-"`
	LastSuccess      *time.Time `json:"-"`
}

// Endpoint is where notifications are POSTed (clause 5.2.15).
type Endpoint struct {
	URI    string `json:"uri"`              // an absolute http or https URL
	Accept string `json:"accept,omitempty"` // application/json (default) or application/ld+json
	// Timeout bounds one attempt, in milliseconds; 0 is the notifier's
	// default, and the notifier may lower it.
	Timeout int `json:"timeout,omitempty"`
	// ReceiverInfo are sent as HTTP headers with every notification.
	ReceiverInfo []KeyValue `json:"receiverInfo,omitempty"`
}

// KeyValue is one {key, value} pair of receiverInfo.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Notification triggers (clause 5.2.12).
const (
	TriggerEntityCreated    = "entityCreated"
	TriggerEntityUpdated    = "entityUpdated"
	TriggerEntityDeleted    = "entityDeleted"
	TriggerAttributeCreated = "attributeCreated"
	TriggerAttributeUpdated = "attributeUpdated"
	TriggerAttributeDeleted = "attributeDeleted"
)

// DefaultTriggers apply when a subscription lists none: the spec's
// default of attributeCreated and attributeUpdated.
var DefaultTriggers = []string{TriggerAttributeCreated, TriggerAttributeUpdated}

// Notification formats.
const (
	FormatNormalized = "normalized"
	FormatKeyValues  = "keyValues"
	FormatConcise    = "concise"
)

// Subscription statuses, computed from isActive and expiresAt.
const (
	SubscriptionActive  = "active"
	SubscriptionPaused  = "paused"
	SubscriptionExpired = "expired"
)

// MaxThrottling bounds throttling and timeInterval (a day): longer
// throttling windows would keep coalesced changes in memory for too long.
const MaxThrottling = 86400

// Status is the subscription's status at now: paused, expired or active.
func (s *Subscription) Status(now time.Time) string {
	switch {
	case !s.Active:
		return SubscriptionPaused
	case s.ExpiresAt != nil && !s.ExpiresAt.After(now):
		return SubscriptionExpired
	}
	return SubscriptionActive
}

// TriggerSet returns the effective notification triggers, with the
// default applied and entityUpdated spelled out as its three attribute
// triggers, as the spec defines it.
func (s *Subscription) TriggerSet() map[string]bool {
	list := s.Triggers
	if len(list) == 0 {
		list = DefaultTriggers
	}
	set := map[string]bool{}
	for _, t := range list {
		set[t] = true
		if t == TriggerEntityUpdated {
			set[TriggerAttributeCreated], set[TriggerAttributeUpdated], set[TriggerAttributeDeleted] = true, true, true
		}
	}
	return set
}

var (
	triggers   = map[string]bool{TriggerEntityCreated: true, TriggerEntityUpdated: true, TriggerEntityDeleted: true, TriggerAttributeCreated: true, TriggerAttributeUpdated: true, TriggerAttributeDeleted: true}
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
	// reservedHeaders are set by the notifier and may not be overridden
	// through receiverInfo.
	reservedHeaders = map[string]bool{"Content-Type": true, "Content-Length": true, "Link": true, "Host": true,
		"Transfer-Encoding": true, "Connection": true, "Ngsild-Tenant": true}
)

// ValidEndpointURI reports whether u can receive notifications: an
// absolute http or https URL with a host.
func ValidEndpointURI(u string) bool {
	p, err := url.Parse(u)
	return err == nil && len(u) <= 2000 && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && p.User == nil
}

// Validate checks a subscription's fields, all at once, naming each bad
// field as the client wrote it ("entities[0].type",
// "notification.endpoint.uri"). It cannot check q and geoQ, which need the
// query packages; the HTTP layer parses them.
func (s *Subscription) Validate() error {
	var v Validation
	v.Check(ValidURI(s.ID), "id", "must be a URI such as urn:ngsi-ld:Subscription:air-quality")
	v.Check(len(s.Name) <= 256, "subscriptionName", "is longer than 256 characters")
	v.Check(len(s.Description) <= 2000, "description", "is longer than 2000 characters")
	v.Check(len(s.Entities) > 0 || len(s.WatchedAttributes) > 0, "entities", "give entities, watchedAttributes or both")
	v.Check(len(s.Entities) <= 100, "entities", "at most 100 selectors")
	for i, e := range s.Entities {
		f := fmt.Sprintf("entities[%d]", i)
		v.Check(e.Type != "" && len(e.Type) <= 512, f+".type", "is required")
		if e.ID != "" {
			v.Check(ValidURI(e.ID), f+".id", "must be a URI")
		}
		if e.IDPattern != "" {
			_, err := regexp.Compile(e.IDPattern)
			v.Check(err == nil && len(e.IDPattern) <= 256, f+".idPattern", "must be a regular expression of at most 256 characters")
		}
	}
	v.Check(len(s.WatchedAttributes) <= 100, "watchedAttributes", "at most 100 attributes")
	for _, a := range s.WatchedAttributes {
		v.Check(a != "", "watchedAttributes", "names may not be empty")
	}
	for _, t := range s.Triggers {
		v.Check(triggers[t], "notificationTrigger", "%q is not one of entityCreated, entityUpdated, entityDeleted, attributeCreated, attributeUpdated, attributeDeleted", t)
	}
	v.Check(len(s.Q) <= 4096, "q", "is longer than 4096 characters")
	if g := s.GeoQ; g != nil {
		v.Check(g.Georel != "", "geoQ.georel", "is required")
		v.Check(g.Geometry != "", "geoQ.geometry", "is required")
		v.Check(len(g.Coordinates) > 0, "geoQ.coordinates", "is required")
	}
	v.Check(s.Throttling >= 0 && s.Throttling <= MaxThrottling, "throttling", "must be a positive number of seconds, at most %d", MaxThrottling)
	if s.TimeInterval != 0 {
		v.Check(s.TimeInterval >= 1 && s.TimeInterval <= MaxThrottling, "timeInterval", "must be from 1 to %d seconds", MaxThrottling)
		v.Check(len(s.Entities) > 0, "entities", "a periodic subscription (timeInterval) needs entities")
		v.Check(len(s.WatchedAttributes) == 0, "watchedAttributes", "cannot be given with timeInterval")
		v.Check(len(s.Triggers) == 0, "notificationTrigger", "cannot be given with timeInterval")
		v.Check(s.Throttling == 0, "throttling", "cannot be given with timeInterval")
	}
	if s.JSONLDContext != "" {
		v.Check(ValidEndpointURI(s.JSONLDContext), "jsonldContext", "must be an http(s) URL of a JSON-LD context")
	}
	n := s.Notification
	v.Check(len(n.Attributes) <= 1000, "notification.attributes", "at most 1000 attributes")
	for _, a := range n.Attributes {
		v.Check(a != "", "notification.attributes", "names may not be empty")
	}
	switch n.Format {
	case "", FormatNormalized, FormatKeyValues, FormatConcise:
	default:
		v.Add("notification.format", "%q is not normalized, keyValues or concise", n.Format)
	}
	v.Check(ValidEndpointURI(n.Endpoint.URI), "notification.endpoint.uri", "must be an absolute http or https URL such as https://example.org/notify")
	switch n.Endpoint.Accept {
	case "", "application/json", "application/ld+json":
	default:
		v.Add("notification.endpoint.accept", "%q is not application/json or application/ld+json", n.Endpoint.Accept)
	}
	v.Check(n.Endpoint.Timeout >= 0, "notification.endpoint.timeout", "must be a positive number of milliseconds")
	v.Check(len(n.Endpoint.ReceiverInfo) <= 20, "notification.endpoint.receiverInfo", "at most 20 entries")
	for i, kv := range n.Endpoint.ReceiverInfo {
		f := fmt.Sprintf("notification.endpoint.receiverInfo[%d]", i)
		v.Check(headerName.MatchString(kv.Key) && !reservedHeaders[textproto.CanonicalMIMEHeaderKey(kv.Key)], f+".key",
			"must be an HTTP header name other than Content-Type, Link, Host or NGSILD-Tenant")
		v.Check(len(kv.Value) <= 4096 && !strings.ContainsAny(kv.Value, "\r\n\x00"), f+".value", "must be a header value on one line")
	}
	return v.Err()
}

// NotificationResult is what the notifier tells storage about one
// subscription's deliveries since its last report: counters to add, and
// the newest times and status.
type NotificationResult struct {
	Tenant, ID string
	// Sent counts attempts made (successful or not), Failed the failed
	// ones.
	Sent, Failed int64
	// Zero times leave the stored ones.
	LastNotification, LastSuccess, LastFailure time.Time
	Status                                     string // "ok" or "failed" after the last attempt
}

// SubscriptionService stores NGSI-LD subscriptions per tenant. Errors:
// EINVALID, ENOTFOUND, ECONFLICT (AlreadyExists, or changed by someone
// else), EFORBIDDEN.
type SubscriptionService interface {
	// CreateSubscription stores a new subscription, giving it an id when
	// it has none.
	CreateSubscription(ctx context.Context, s *Subscription) error
	FindSubscription(ctx context.Context, tenant, id string) (*Subscription, error)
	// FindSubscriptions lists a tenant's subscriptions in creation order,
	// with their total.
	FindSubscriptions(ctx context.Context, tenant string, offset, limit int) ([]*Subscription, int, error)
	// UpdateSubscription replaces the definition of s (its status fields
	// stay). ECONFLICT when it changed since s was read (ModifiedAt).
	UpdateSubscription(ctx context.Context, s *Subscription) error
	DeleteSubscription(ctx context.Context, tenant, id string) error
}

// SubscriptionStore is what the notifier needs of storage besides the
// service: every active subscription, a cheap token that changes whenever
// any subscription does (for processes sharing one database), and a place
// for the delivery counters.
type SubscriptionStore interface {
	SubscriptionService
	// ActiveSubscriptions returns every tenant's subscriptions with
	// isActive true (expired ones included).
	ActiveSubscriptions(ctx context.Context) ([]*Subscription, error)
	SubscriptionsVersion(ctx context.Context) (string, error)
	// RecordNotifications adds up delivery results, in one transaction;
	// results for subscriptions deleted meanwhile are ignored.
	RecordNotifications(ctx context.Context, results []NotificationResult) error
}
