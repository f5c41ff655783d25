package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// AlertPublisher publishes alarms and public warnings as NGSI-LD Alert
// entities (Smart Data Models dataModel.Alert), so that partner systems
// follow them with ordinary NGSI-LD subscriptions and queries. It is fed
// by storage's alarm and warning listeners and never blocks them: changes
// wait in a queue, and when the queue is full the newest change of an
// alarm still arrives with the alarm's next change.
type AlertPublisher struct {
	Entities cityops.EntityService
	Log      *slog.Logger
	q        chan *cityops.Entity
	dropped  atomic.Uint64
}

// NewAlertPublisher returns a publisher writing through es.
func NewAlertPublisher(es cityops.EntityService, log *slog.Logger) *AlertPublisher {
	return &AlertPublisher{Entities: es, Log: log, q: make(chan *cityops.Entity, 4096)}
}

// severityToSDM maps X.733 severities to the Alert model's scale.
var severityToSDM = map[string]string{cityops.SeverityCritical: "critical", cityops.SeverityMajor: "high",
	cityops.SeverityMinor: "medium", cityops.SeverityWarning: "low"}

// sectorToSDM maps a sector to the Alert model's categories (traffic,
// naturalDisaster, weather, environment, health, security, agriculture).
// Tourism and education have none of their own: crowds and absences are
// public-order matters, so "security".
var sectorToSDM = map[string]string{cityops.SectorTransport: "traffic", cityops.SectorEnvironment: "environment",
	cityops.SectorHealth: "health", cityops.SectorTourism: "security", cityops.SectorEducation: "security", "disaster": "naturalDisaster"}

// AlarmAlertID is the id of the Alert entity an alarm is published as.
func AlarmAlertID(id int64) string { return fmt.Sprintf("urn:ngsi-ld:Alert:cityops-alarm-%d", id) }

// WarningAlertID is the id of the Alert entity a warning is published as.
func WarningAlertID(id int64) string { return fmt.Sprintf("urn:ngsi-ld:Alert:cityops-warning-%d", id) }

func prop(v any) []cityops.Attr { return []cityops.Attr{{"type": cityops.KindProperty, "value": v}} }

func dateTime(t time.Time) map[string]any {
	return map[string]any{"@type": "DateTime", "@value": t.UTC().Format(time.RFC3339)}
}

func alertEntity(id string, sector, severity string, point *[2]float64) *cityops.Entity {
	core := jsonld.Core()
	e := &cityops.Entity{ID: id, Type: core.ExpandTerm("Alert"), Attrs: map[string][]cityops.Attr{}}
	set := func(name string, v any) { e.Attrs[core.ExpandTerm(name)] = prop(v) }
	cat := sectorToSDM[sector]
	if cat == "" {
		cat = "security"
	}
	set("category", cat)
	set("severity", severityToSDM[severity])
	if point != nil {
		e.Attrs[cityops.LocationAttr] = []cityops.Attr{{"type": cityops.KindGeoProperty,
			"value": map[string]any{"type": "Point", "coordinates": []any{point[1], point[0]}}}}
	}
	return e
}

// AlarmChanged is a storage alarm listener.
func (p *AlertPublisher) AlarmChanged(c cityops.AlarmChange) {
	l := c.Alarm
	var pt *[2]float64
	if l.Lat != nil && l.Lon != nil {
		pt = &[2]float64{*l.Lat, *l.Lon}
	}
	e := alertEntity(AlarmAlertID(l.ID), l.Sector, l.Severity, pt)
	e.Tenant = l.Tenant
	core := jsonld.Core()
	set := func(name string, v any) { e.Attrs[core.ExpandTerm(name)] = prop(v) }
	set("name", l.RuleName)
	set("subCategory", l.Rule)
	set("description", l.Message)
	set("dateIssued", dateTime(l.RaisedAt))
	set("validFrom", dateTime(l.RaisedAt))
	if l.ClearedAt != nil {
		set("validTo", dateTime(*l.ClearedAt))
	}
	set("alarmStatus", l.Status) // cityops ext.: active, acknowledged, cleared
	e.Attrs[core.ExpandTerm("alertSource")] = []cityops.Attr{{"type": cityops.KindRelationship, "object": l.EntityID}}
	p.enqueue(e)
}

// WarningChanged is a storage warning listener.
func (p *AlertPublisher) WarningChanged(w *cityops.Warning) {
	e := alertEntity(WarningAlertID(w.ID), w.Sector, w.Severity, nil)
	core := jsonld.Core()
	set := func(name string, v any) { e.Attrs[core.ExpandTerm(name)] = prop(v) }
	set("name", w.Title)
	set("description", w.Body)
	set("subCategory", "publicWarning")
	set("dateIssued", dateTime(w.CreatedAt))
	set("validFrom", dateTime(w.ValidFrom))
	switch {
	case w.Withdrawn != nil:
		set("validTo", dateTime(*w.Withdrawn))
	case w.ValidUntil != nil:
		set("validTo", dateTime(*w.ValidUntil))
	}
	if w.Area != "" {
		set("areaServed", w.Area)
	}
	p.enqueue(e)
}

func (p *AlertPublisher) enqueue(e *cityops.Entity) {
	select {
	case p.q <- e:
	default:
		p.dropped.Add(1)
	}
}

// Run writes queued alerts until ctx ends.
func (p *AlertPublisher) Run(ctx context.Context) {
	sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-p.q:
			errs, err := p.Entities.UpsertEntities(sys, e.Tenant, []*cityops.Entity{e}, true)
			if err == nil {
				err = errs[e.ID]
			}
			if err != nil && p.Log != nil {
				p.Log.Error("publish alert", "id", e.ID, "err", err)
			}
		}
	}
}

// Dropped counts alerts dropped because the queue was full.
func (p *AlertPublisher) Dropped() uint64 { return p.dropped.Load() }
