package alarm

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

// stateKey names the entity a state is about.
type stateKey struct{ tenant, id string }

// entry is a state with where the entity was at its last reading, for the
// alarms that tick raises.
type entry struct {
	state
	lat, lon float64
	located  bool
	name     string
}

// group is the rules of one entity type with their states: per entity,
// one entry per rule, in the order of rules, so that a change finds all
// of them with one look-up.
type group struct {
	rules  []*rule
	ticks  bool // some rule ticks
	states map[stateKey][]entry
}

// rule is an enabled rule being evaluated: its states are
// group.states[entity][pos].
type rule struct {
	def   *cityops.AlarmRule
	ticks bool // tick can change its states
	group *group
	pos   int
}

// output is a transition to write to the Store.
type output struct {
	rule  *rule
	key   stateKey
	tr    transition
	raise *cityops.AlarmRaise // for a raise
}

// evaluator applies the rules to entity changes and to the clock, in
// memory: it does no I/O and is not safe for concurrent use. Transitions
// are appended to out.
type evaluator struct {
	inArea func(lat, lon float64, area string) bool
	rules  map[int64]*rule   // by ID
	groups map[string]*group // by entity type
	out    []output
	// readings counts the readings stepped.
	readings uint64
	rd       reading // reused for every change
}

func newEvaluator(inArea func(lat, lon float64, area string) bool) *evaluator {
	return &evaluator{inArea: inArea, rules: map[int64]*rule{}, groups: map[string]*group{}}
}

// isAlert reports whether entities of type typ are alerts, which rules
// never watch (an alarm's own NGSI-LD Alert must not set off another).
func isAlert(typ string) bool { return typ == "Alert" || strings.HasSuffix(typ, "/Alert") }

// sameCondition reports whether two definitions of a rule evaluate alike,
// so that the states of one hold for the other. The code is part of it:
// the Store finds the open alarm to end by the rule's code.
func sameCondition(a, b *cityops.AlarmRule) bool {
	return a.Code == b.Code && a.Tenant == b.Tenant && a.EntityType == b.EntityType && a.EntityID == b.EntityID && a.Area == b.Area &&
		a.Attr == b.Attr && a.Kind == b.Kind && a.Op == b.Op && a.Value == b.Value && a.ClearLevel() == b.ClearLevel() &&
		a.ForMinutes == b.ForMinutes && a.WindowMinutes == b.WindowMinutes && a.Count == b.Count
}

// setRules replaces the rules by defs (enabled, valid ones, with distinct
// IDs). A rule whose condition did not change keeps its states; the
// others start afresh and are returned, for seeding.
func (ev *evaluator) setRules(defs []*cityops.AlarmRule) (fresh []*rule) {
	rules := make(map[int64]*rule, len(defs))
	groups := map[string]*group{}
	for _, d := range defs {
		r := ev.rules[d.ID]
		if r != nil && sameCondition(r.def, d) {
			r.def = d // the message, severity, category… may have changed
		} else {
			r = &rule{def: d, ticks: ticks(d)}
			fresh = append(fresh, r)
		}
		rules[d.ID] = r
		g := groups[d.EntityType]
		if g == nil {
			g = &group{}
			groups[d.EntityType] = g
		}
		g.rules = append(g.rules, r)
		g.ticks = g.ticks || r.ticks
	}
	for typ, g := range groups {
		g.states = carry(ev.groups[typ], g.rules)
		for i, r := range g.rules {
			r.group, r.pos = g, i
		}
	}
	ev.rules, ev.groups = rules, groups
	return fresh
}

// carry returns the states of old that rules keep: those of the rules
// still in old, moved to their new positions.
func carry(old *group, rules []*rule) map[stateKey][]entry {
	if old == nil {
		return map[stateKey][]entry{}
	}
	if slices.Equal(old.rules, rules) {
		return old.states
	}
	states := make(map[stateKey][]entry, len(old.states))
	for key, es := range old.states {
		var kept []entry
		for i, r := range rules {
			if r.group == old {
				if kept == nil {
					kept = make([]entry, len(rules))
				}
				kept[i] = es[r.pos]
			}
		}
		if kept != nil {
			states[key] = kept
		}
	}
	return states
}

// entries returns the entity's states in g, made when missing.
func (g *group) entries(key stateKey) []entry {
	es := g.states[key]
	if es == nil {
		es = make([]entry, len(g.rules))
		g.states[key] = es
	}
	return es
}

// seed stamps a silent rule's states with when the entities were last
// seen, so that those already silent raise at the first tick.
func (ev *evaluator) seed(r *rule, seen []cityops.EntitySeen) {
	d := r.def
	for _, es := range seen {
		if es.Tenant != d.Tenant || es.Type != d.EntityType || isAlert(es.Type) || (d.EntityID != "" && d.EntityID != es.ID) {
			continue
		}
		located := es.Lat != nil && es.Lon != nil
		if d.Area != "" && (!located || ev.inArea == nil || !ev.inArea(*es.Lat, *es.Lon, d.Area)) {
			continue
		}
		e := &r.group.entries(stateKey{es.Tenant, es.ID})[r.pos]
		if !e.seen || es.At.After(e.last) {
			e.seen, e.last = true, es.At
			if located {
				e.lat, e.lon, e.located = *es.Lat, *es.Lon, true
			}
		}
	}
}

// evaluate applies one entity change to the rules of its type: each of
// the updates that came together in it first, oldest reading first, then
// the entity as it stands (whose newest values the rules have then seen
// already, so nothing counts twice).
func (ev *evaluator) evaluate(c *cityops.EntityChange) {
	g := ev.groups[c.Type]
	if g == nil || isAlert(c.Type) {
		return
	}
	if len(c.Writes) > 1 && !c.Deleted && c.Entity != nil {
		for _, w := range byObservedAt(c.Writes) {
			ev.evaluate(fragment(c, w))
		}
	}
	key := stateKey{c.Tenant, c.ID}
	if c.Deleted {
		// A deleted entity is neither silent nor anything else any more.
		delete(g.states, key)
		return
	}
	if c.Entity == nil {
		return
	}
	rd := &ev.rd
	rd.reset(c)
	var es []entry
	for i, r := range g.rules {
		d := r.def
		if d.Tenant != c.Tenant || d.EntityID != "" && d.EntityID != c.ID {
			continue
		}
		var t time.Time
		var v float64
		if d.Kind == cityops.RuleSilent {
			if !rd.alive(d.Attr) {
				continue
			}
			t = c.At
		} else {
			var ok bool
			if t, v, ok = rd.number(d.Attr); !ok {
				continue
			}
		}
		if d.Area != "" && !rd.in(d.Area, ev.inArea) {
			continue
		}
		if es == nil {
			es = g.entries(key)
		}
		e := &es[i]
		ev.readings++
		tr := step(d, &e.state, t, v)
		if r.ticks {
			e.lat, e.lon, e.located = rd.point()
			e.name = rd.name()
		}
		if tr.action != none {
			lat, lon, located := rd.point()
			ev.emit(r, key, tr, t, lat, lon, located, rd.name())
		}
	}
}

// tick applies the clock to the states of the rules it can change.
func (ev *evaluator) tick(now time.Time) {
	for _, g := range ev.groups {
		if !g.ticks {
			continue
		}
		for key, es := range g.states {
			for i, r := range g.rules {
				if !r.ticks {
					continue
				}
				e := &es[i]
				if tr := tick(r.def, &e.state, now); tr.action != none {
					ev.emit(r, key, tr, now, e.lat, e.lon, e.located, e.name)
				}
			}
		}
	}
}

// revert undoes the effect of a transition the Store never took, so that
// the condition is sent again: a lost raise is raised again by the next
// reading (or tick) that meets the condition, a lost end is ended again by
// the next one that does not.
func (ev *evaluator) revert(o output) {
	r := ev.rules[o.rule.def.ID]
	if r != o.rule {
		return // the rule changed since: its states are new
	}
	es := r.group.states[o.key]
	if es == nil {
		return
	}
	switch o.tr.action {
	case raise:
		es[r.pos].firing = false
	case end:
		es[r.pos].firing = true
	}
}

// emit queues a transition; name is the entity's name for the message
// ("" when unknown: the id stands in).
func (ev *evaluator) emit(r *rule, key stateKey, tr transition, at time.Time, lat, lon float64, located bool, name string) {
	o := output{rule: r, key: key, tr: tr}
	if tr.action == raise {
		if name == "" {
			name = key.id
		}
		in := &cityops.AlarmRaise{Rule: r.def, Tenant: key.tenant, EntityID: key.id, EntityType: r.def.EntityType,
			Value: tr.value, Message: r.def.Expand(name, tr.value), At: at}
		if located {
			in.Lat, in.Lon = &lat, &lon
		}
		o.raise = in
	}
	ev.out = append(ev.out, o)
}

// reading reads an entity change for the rules of its type, parsing each
// attribute and the location at most once.
type reading struct {
	c       *cityops.EntityChange
	values  []attrValue
	located int8 // 0 not parsed yet, 1 a point, -1 none
	lat     float64
	lon     float64
	areas   []areaHit
}

type attrValue struct {
	name string
	t    time.Time
	v    float64
	ok   bool
}

type areaHit struct {
	area string
	in   bool
}

func (rd *reading) reset(c *cityops.EntityChange) {
	rd.c, rd.values, rd.located, rd.areas = c, rd.values[:0], 0, rd.areas[:0]
}

// written reports whether the change wrote attribute name, which the
// entity still has.
func (rd *reading) written(name string) bool {
	if _, ok := rd.c.Entity.Attrs[name]; !ok {
		return false
	}
	if len(rd.c.Attrs) == 0 {
		return true // the whole entity was written
	}
	for _, a := range rd.c.Attrs {
		if a == name {
			return true
		}
	}
	return false
}

// alive reports whether the change is a sign of life: a write of
// attribute name, or of any attribute when name is "".
func (rd *reading) alive(name string) bool {
	if name != "" {
		return rd.written(name)
	}
	if len(rd.c.Attrs) == 0 {
		return true
	}
	for _, a := range rd.c.Attrs {
		if _, ok := rd.c.Entity.Attrs[a]; ok {
			return true // not only attributes deleted
		}
	}
	return false
}

// number returns the numeric value of the default instance of attribute
// name, if the change wrote it, and when it was observed (or written).
func (rd *reading) number(name string) (time.Time, float64, bool) {
	for _, a := range rd.values {
		if a.name == name {
			return a.t, a.v, a.ok
		}
	}
	a := attrValue{name: name}
	if rd.written(name) {
		for _, in := range rd.c.Entity.Attrs[name] {
			if in.DatasetID() != "" {
				continue
			}
			if a.v, a.ok = in.Number(); a.ok {
				if t, ok := in.ObservedAt(); ok {
					a.t = t
				} else {
					a.t = rd.c.At
				}
			}
			break
		}
	}
	rd.values = append(rd.values, a)
	return a.t, a.v, a.ok
}

// nameAttr is the "name" property, expanded as the core context expands it.
var nameAttr = jsonld.Core().ExpandTerm("name")

// name returns the entity's name property, or "".
func (rd *reading) name() string {
	if rd.c.Entity == nil {
		return ""
	}
	for _, a := range rd.c.Entity.Attrs[nameAttr] {
		if s, ok := a["value"].(string); ok && a.DatasetID() == "" {
			return s
		}
	}
	return ""
}

// point returns the entity's location when it is a GeoJSON Point.
func (rd *reading) point() (lat, lon float64, ok bool) {
	if rd.located == 0 {
		rd.located = -1
		if la, lo, ok := rd.c.Entity.Point(); ok {
			rd.lat, rd.lon, rd.located = la, lo, 1
		}
	}
	return rd.lat, rd.lon, rd.located == 1
}

// in reports whether the entity lies in area (or below it).
func (rd *reading) in(area string, inArea func(lat, lon float64, area string) bool) bool {
	for _, h := range rd.areas {
		if h.area == area {
			return h.in
		}
	}
	lat, lon, ok := rd.point()
	h := areaHit{area, ok && inArea != nil && inArea(lat, lon, area)}
	rd.areas = append(rd.areas, h)
	return h.in
}

// byObservedAt orders updates by the newest observedAt each carries
// (updates without one keep their place).
func byObservedAt(ws []*cityops.Entity) []*cityops.Entity {
	out := append([]*cityops.Entity(nil), ws...)
	at := func(e *cityops.Entity) time.Time {
		var t time.Time
		for _, l := range e.Attrs {
			for _, a := range l {
				if o, ok := a.ObservedAt(); ok && o.After(t) {
					t = o
				}
			}
		}
		return t
	}
	sort.SliceStable(out, func(i, j int) bool { return at(out[i]).Before(at(out[j])) })
	return out
}

// fragment is one update of a batched change as a change of its own: the
// attributes it wrote, with the entity's location and name (which rules
// by area and messages need) from the entity as it stands.
func fragment(c *cityops.EntityChange, w *cityops.Entity) *cityops.EntityChange {
	e := &cityops.Entity{ID: c.ID, Type: c.Type, Tenant: c.Tenant, Attrs: make(map[string][]cityops.Attr, len(w.Attrs)+2)}
	names := make([]string, 0, len(w.Attrs))
	for name, l := range w.Attrs {
		e.Attrs[name] = l
		names = append(names, name)
	}
	for _, keep := range []string{cityops.LocationAttr, nameAttr} {
		if _, ok := e.Attrs[keep]; !ok && c.Entity.Attrs[keep] != nil {
			e.Attrs[keep] = c.Entity.Attrs[keep]
		}
	}
	return &cityops.EntityChange{Tenant: c.Tenant, ID: c.ID, Type: c.Type, Entity: e, Attrs: names, At: c.At}
}
