package cityops

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cityops/cityops/geo"
)

// Entity is an NGSI-LD entity: a thing in the city (an air-quality
// station, a car park, a river gauge) with its attributes. Names are kept
// expanded (full IRIs) so that different @contexts agree on what they mean;
// the HTTP layer expands and compacts with the request's context.
type Entity struct {
	ID   string `json:"id"`   // a URI, e.g. urn:ngsi-ld:AirQualityObserved:hue-dong-ba
	Type string `json:"type"` // an expanded IRI
	// Attrs maps an expanded attribute name to its instances (several
	// when they differ by datasetId).
	Attrs      map[string][]Attr `json:"attrs"`
	Tenant     string            `json:"-"`
	CreatedAt  time.Time         `json:"createdAt"`
	ModifiedAt time.Time         `json:"modifiedAt"`
}

// Attr is one attribute instance in NGSI-LD normalized form: "type"
// (Property, Relationship, GeoProperty, …), "value" or "object",
// optional "observedAt", "unitCode", "datasetId" and sub-attributes.
type Attr map[string]any

// AttrMembers are the members of an attribute instance that are not
// sub-attributes (whose names are expanded and compacted).
var AttrMembers = map[string]bool{"type": true, "value": true, "object": true, "observedAt": true, "unitCode": true,
	"datasetId": true, "createdAt": true, "modifiedAt": true, "languageMap": true, "objects": true}

// LocationAttr is the name of the core "location" GeoProperty, which
// storage indexes for geo-queries. Core names stay as they are when
// expanded (ngsild/jsonld), so it is the short name.
const LocationAttr = "location"

// Attribute kinds of NGSI-LD.
const (
	KindProperty         = "Property"
	KindRelationship     = "Relationship"
	KindGeoProperty      = "GeoProperty"
	KindLanguageProperty = "LanguageProperty"
)

// DatasetID returns the instance's datasetId ("" for the default one).
func (a Attr) DatasetID() string {
	s, _ := a["datasetId"].(string)
	return s
}

// ObservedAt returns the instance's observedAt, if it has a valid one.
func (a Attr) ObservedAt() (time.Time, bool) {
	s, ok := a["observedAt"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// Point returns the default instance of the entity's location when it is
// a GeoJSON Point ({"type": "Point", "coordinates": [lon, lat]}) within
// the valid ranges.
func (e *Entity) Point() (lat, lon float64, ok bool) {
	for _, a := range e.Attrs[LocationAttr] {
		if a.DatasetID() != "" {
			continue
		}
		g, _ := a["value"].(map[string]any)
		if g["type"] != "Point" {
			return 0, 0, false
		}
		switch c := g["coordinates"].(type) {
		case []any:
			if len(c) >= 2 {
				lon, ok1 := c[0].(float64)
				lat, ok2 := c[1].(float64)
				return lat, lon, ok1 && ok2 && validPoint(lat, lon)
			}
		case []float64:
			if len(c) >= 2 {
				return c[1], c[0], validPoint(c[1], c[0])
			}
		}
		return 0, 0, false
	}
	return 0, 0, false
}

func validPoint(lat, lon float64) bool { return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 }

// Number returns the instance's value when it is a number, for roll-ups.
func (a Attr) Number() (float64, bool) {
	f, ok := a["value"].(float64)
	return f, ok
}

var (
	uriSchemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// ValidURI reports whether s is an absolute URI, as NGSI-LD ids must be.
func ValidURI(s string) bool {
	if len(s) == 0 || len(s) > 512 || strings.ContainsAny(s, " \t\r\n<>\"{}|\\^`") || !uriSchemeRE.MatchString(s) {
		return false
	}
	_, err := url.Parse(s)
	return err == nil
}

// ValidateAttr checks an attribute instance's shape; path names it in the
// error (e.g. "temperature" or "temperature.accuracy").
func ValidateAttr(path string, a Attr, depth int) error {
	bad := func(format string, args ...any) error {
		return &Error{Code: EINVALID, Message: "invalid attribute", Fields: map[string]string{path: fmt.Sprintf(format, args...)}}
	}
	if depth > 8 {
		return bad("sub-attributes nest deeper than 8 levels")
	}
	kind, _ := a["type"].(string)
	switch kind {
	case KindProperty:
		if _, ok := a["value"]; !ok {
			return bad("a Property needs a value")
		}
		if a["value"] == nil {
			return bad("a Property's value may not be null")
		}
	case KindRelationship:
		obj, ok := a["object"].(string)
		if !ok || !ValidURI(obj) {
			return bad("a Relationship needs an object that is a URI")
		}
	case KindGeoProperty:
		if _, ok := a["value"].(map[string]any); !ok {
			return bad("a GeoProperty's value must be a GeoJSON geometry")
		}
		if _, err := geo.ShapeFromValue(a["value"]); err != nil {
			return bad("%v", err)
		}
	case KindLanguageProperty:
		if _, ok := a["languageMap"].(map[string]any); !ok {
			return bad("a LanguageProperty needs a languageMap")
		}
	case "":
		return bad("the type is missing; use Property, Relationship, GeoProperty or LanguageProperty")
	default:
		return bad("type %q is not Property, Relationship, GeoProperty or LanguageProperty", kind)
	}
	if s, ok := a["observedAt"]; ok {
		str, isStr := s.(string)
		if _, err := time.Parse(time.RFC3339Nano, str); !isStr || err != nil {
			return bad("observedAt must be a date-time such as 2026-01-01T08:00:00Z")
		}
	}
	if s, ok := a["datasetId"]; ok {
		if str, isStr := s.(string); !isStr || !ValidURI(str) {
			return bad("datasetId must be a URI")
		}
	}
	if s, ok := a["unitCode"]; ok {
		if _, isStr := s.(string); !isStr {
			return bad("unitCode must be a string (a UN/CEFACT code such as CEL)")
		}
	}
	for k, v := range a {
		if AttrMembers[k] {
			continue
		}
		if !validAttrName(k) {
			return bad("sub-attribute %q: a name may not be empty or a JSON-LD keyword", k)
		}
		sub, ok := v.(map[string]any)
		if !ok {
			return bad("sub-attribute %q must be an object with a type", k)
		}
		if err := ValidateAttr(path+"."+k, Attr(sub), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// validAttrName reports whether an (expanded) attribute name can be
// written out: "" and JSON-LD keywords ("@id", "@type", …) cannot, since
// they would collide with the entity's own members.
func validAttrName(name string) bool { return name != "" && name[0] != '@' }

// Validate checks an entity: a URI id, a type, and well-formed attributes.
func (e *Entity) Validate() error { return e.validate(false) }

// ValidateTemporal checks an entity in temporal representation: an
// attribute may have any number of instances, observed at different
// times, for each datasetId.
func (e *Entity) ValidateTemporal() error { return e.validate(true) }

func (e *Entity) validate(temporal bool) error {
	var v Validation
	v.Check(ValidURI(e.ID), "id", "must be a URI such as urn:ngsi-ld:AirQualityObserved:hue-1")
	v.Check(e.Type != "" && len(e.Type) <= 512, "type", "is required")
	if err := v.Err(); err != nil {
		return err
	}
	if len(e.Attrs) > 1000 {
		return Errorf(EINVALID, "an entity may have at most 1000 attributes")
	}
	for name, list := range e.Attrs {
		if !validAttrName(name) {
			return &Error{Code: EINVALID, Message: "invalid attribute", Fields: map[string]string{name: "a name may not be empty or a JSON-LD keyword"}}
		}
		if len(list) == 0 {
			return &Error{Code: EINVALID, Message: "invalid attribute", Fields: map[string]string{name: "has no instance"}}
		}
		seen := map[string]bool{}
		for _, a := range list {
			if err := ValidateAttr(name, a, 0); err != nil {
				return err
			}
			if seen[a.DatasetID()] && !temporal {
				return &Error{Code: EINVALID, Message: "invalid attribute", Fields: map[string]string{name: "two instances with the same datasetId"}}
			}
			seen[a.DatasetID()] = true
		}
	}
	return nil
}

// EntityFilter selects entities.
type EntityFilter struct {
	Tenant    string
	Types     []string // expanded
	IDs       []string
	IDPattern *regexp.Regexp
	// Box keeps entities whose location's bounding box intersects
	// [minLat, minLon, maxLat, maxLon] (boundaries included), a coarse
	// prefilter for geo-queries; nil does not filter.
	Box *[4]float64
	// Q keeps entities that match an NGSI-LD q expression, an
	// ngsild/q.Expr (typed loosely so that this package does not depend
	// on the parser); Expand turns its short names into expanded ones.
	Q      fmt.Stringer
	Expand func(string) string
	// Attrs keeps only these attributes in the result (expanded names).
	Attrs         []string
	Offset, Limit int
	// Count asks for the number of matches besides the page.
	Count bool
}

// Instance is one stored observation of an attribute, for temporal queries.
type Instance struct {
	// ID is the instanceId the temporal API names it by.
	ID         string    `json:"instanceId,omitempty"`
	Attr       string    `json:"attr"`
	ObservedAt time.Time `json:"observedAt"`
	Value      Attr      `json:"value"`
}

// EntityService stores NGSI-LD entities: the latest state for queries and
// every instance for history. Errors: EINVALID, ENOTFOUND, ECONFLICT
// (AlreadyExists).
type EntityService interface {
	CreateEntity(ctx context.Context, e *Entity) error
	FindEntity(ctx context.Context, tenant, id string) (*Entity, error)
	FindEntities(ctx context.Context, f EntityFilter) ([]*Entity, int, error)
	// ReplaceEntity replaces all attributes; the type may not change.
	ReplaceEntity(ctx context.Context, e *Entity) error
	DeleteEntity(ctx context.Context, tenant, id string) error
	// AppendAttrs adds attributes, replacing same-named ones unless
	// noOverwrite; it returns the names it did not write.
	AppendAttrs(ctx context.Context, tenant, id string, attrs map[string][]Attr, noOverwrite bool) (notUpdated []string, err error)
	// UpdateAttrs replaces only attributes that exist; it returns the
	// names that did not.
	UpdateAttrs(ctx context.Context, tenant, id string, attrs map[string][]Attr) (notUpdated []string, err error)
	// DeleteAttr removes an attribute (one datasetId, or all when all).
	DeleteAttr(ctx context.Context, tenant, id, attr, datasetID string, all bool) error
	// UpsertEntities creates or updates (replace or update mode) many
	// entities in one transaction per batch, reporting per-entity errors.
	UpsertEntities(ctx context.Context, tenant string, list []*Entity, replace bool) (errs map[string]error, err error)
	// IngestEntities adds measurements: entities in temporal
	// representation, created when new, every instance kept, each
	// attribute's latest state its newest observation.
	IngestEntities(ctx context.Context, tenant string, list []*Entity) (errs map[string]error, err error)
	// EntityCatalogue lists the entity types (types) or attribute names
	// present in a tenant, expanded.
	EntityCatalogue(ctx context.Context, tenant string, types bool) ([]string, error)
	// History returns an attribute's instances in [from, to), oldest
	// first, at most limit (the newest limit when lastN).
	History(ctx context.Context, tenant, id, attr string, from, to time.Time, limit int, lastN bool) ([]Instance, error)
	// Aggregate sums an attribute's instances over periods of the window
	// [from, to) (one period when period is 0), from the roll-ups where
	// the periods line up with them and from the instances elsewhere.
	// distinct asks for distinct values, which only the instances give.
	// Periods without instances are left out.
	Aggregate(ctx context.Context, tenant, id, attr string, from, to time.Time, period time.Duration, distinct bool) ([]AggrPeriod, error)
	// DeleteHistory deletes an attribute's instances and roll-ups (one
	// datasetId, or all when all); ENOTFOUND when there are none.
	DeleteHistory(ctx context.Context, tenant, id, attr, datasetID string, all bool) error
	// ReplaceInstance replaces the instance History named instanceID by
	// with, or deletes it when with is nil. ENOTFOUND, EINVALID.
	ReplaceInstance(ctx context.Context, tenant, id, attr, instanceID string, with Attr) error
}

// AggrPeriod is one period of a temporal aggregation.
type AggrPeriod struct {
	From, To time.Time
	// Count counts every instance, Numbers the numeric ones that Sum,
	// Min and Max are over.
	Count, Numbers int64
	Sum            float64
	Min, Max       float64
	// Distinct counts distinct values, when asked for.
	Distinct int64
}

// RetentionPolicy says how long an entity type's history is kept, in
// days; 0 keeps it for ever. Raw instances answer temporal queries; the
// hour and day roll-ups keep aggregations answering after they are gone.
type RetentionPolicy struct {
	Tenant     string `json:"tenant,omitempty"`
	EntityType string `json:"entity_type"` // expanded; "" is the default for every type without its own
	RawDays    int    `json:"raw_days"`
	HourDays   int    `json:"hour_days"`
	DayDays    int    `json:"day_days"`
}

// Validate checks a policy: days are 0 (for ever) or up to 100 years, and
// coarser roll-ups are kept at least as long as finer ones.
func (p *RetentionPolicy) Validate() error {
	var v Validation
	for _, d := range []struct {
		name string
		n    int
	}{{"raw_days", p.RawDays}, {"hour_days", p.HourDays}, {"day_days", p.DayDays}} {
		v.Check(d.n >= 0 && d.n <= 36500, d.name, "must be 0 (keep for ever) to 36500 days")
	}
	forever := func(n int) int {
		if n == 0 {
			return math.MaxInt
		}
		return n
	}
	v.Check(forever(p.HourDays) >= forever(p.RawDays), "hour_days", "must keep hour roll-ups at least as long as raw instances")
	v.Check(forever(p.DayDays) >= forever(p.HourDays), "day_days", "must keep day roll-ups at least as long as hour roll-ups")
	return v.Err()
}

// RetentionService keeps retention policies and applies them.
type RetentionService interface {
	SetRetention(ctx context.Context, p *RetentionPolicy) error
	RetentionPolicies(ctx context.Context, tenant string) ([]*RetentionPolicy, error)
	DeleteRetention(ctx context.Context, tenant, entityType string) error
	// ApplyRetention deletes what the policies no longer keep, a bounded
	// amount per call, and returns how many rows it deleted.
	ApplyRetention(ctx context.Context) (int64, error)
}

// EntityChange is one entity written, reported after its transaction
// committed, so that subscriptions and alarm rules see only what is stored.
type EntityChange struct {
	Tenant string
	ID     string
	Type   string // expanded
	// Entity is the whole entity after the write; nil when Deleted.
	Entity *Entity
	// Attrs names the attributes written (expanded); empty when the
	// entity was created, replaced or deleted as a whole.
	Attrs []string
	// NewAttrs are those of Attrs the entity did not have before.
	NewAttrs []string
	// Writes are the updates of the entity that came together in one
	// transaction, in the order they came, each with only what it wrote;
	// set when there were several (a sensor's readings batched together),
	// so that a listener that needs every reading, not only the newest
	// (the alarm engine), sees them all.
	Writes  []*Entity
	Created bool
	Deleted bool
	At      time.Time
	// Previewed: every write of it was shown to the listeners of previews
	// as it arrived (measurements, storage.DB.PreviewMeasurement), so
	// those (the alarm engine) skip it now.
	Previewed bool
}

// EntityListener receives committed changes. It is called on the writer's
// goroutine, so it must not block: queue the work and return.
type EntityListener func([]EntityChange)

var tenantRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidTenant reports whether s names an NGSI-LD tenant: 1–64 letters,
// digits, '_' or '-'. The default tenant is "" and always valid.
func ValidTenant(s string) bool { return s == "" || tenantRE.MatchString(s) }
