package alarm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

const (
	gaugeType = "https://smartdatamodels.org/dataModel.Environment/WaterObserved"
	levelAttr = "https://smartdatamodels.org/dataModel.Environment/height"
	flowAttr  = "https://smartdatamodels.org/dataModel.Environment/flow"
	gauge1    = "urn:ngsi-ld:WaterObserved:huong-kim-long"
	gauge2    = "urn:ngsi-ld:WaterObserved:huong-phu-cam"
)

// gauge returns an entity change of a river gauge at (lat, lon) that
// writes attrs (all of them when none are named).
func gauge(id string, lat, lon float64, written time.Time, attrs map[string][]cityops.Attr, names ...string) cityops.EntityChange {
	e := &cityops.Entity{ID: id, Type: gaugeType, Tenant: "hue", Attrs: map[string][]cityops.Attr{
		cityops.LocationAttr: {{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{lon, lat}}}},
	}}
	for k, v := range attrs {
		e.Attrs[k] = v
	}
	return cityops.EntityChange{Tenant: "hue", ID: id, Type: gaugeType, Entity: e, Attrs: names, At: written}
}

// level is a default instance of the water level observed at t.
func level(v any, t time.Time) map[string][]cityops.Attr {
	return map[string][]cityops.Attr{levelAttr: {{"type": "Property", "value": v, "observedAt": t.Format(time.RFC3339Nano)}}}
}

// outs renders the evaluator's transitions and forgets them.
func outs(ev *evaluator) string {
	var b []string
	for _, o := range ev.out {
		s := fmt.Sprintf("%s %s %s/%s %g", o.tr.action, o.rule.def.Code, o.key.tenant, o.key.id, o.tr.value)
		if r := o.raise; r != nil {
			s += fmt.Sprintf(" %q at=%s", r.Message, r.At.Sub(t0))
			if r.Lat != nil {
				s += fmt.Sprintf(" %g,%g", *r.Lat, *r.Lon)
			}
		}
		b = append(b, s)
	}
	ev.out = nil
	return strings.Join(b, "; ")
}

func riverRule() *cityops.AlarmRule {
	return &cityops.AlarmRule{Tenant: "hue", ID: 1, Code: "river-high", Name: "River high", Severity: cityops.SeverityMajor, EntityType: gaugeType, Attr: levelAttr,
		Kind: cityops.RuleThreshold, Op: ">", Value: 3.5, Clear: ptr(3.3), Message: "{entity} at {value} m", Enabled: true}
}

func TestEvaluateReadings(t *testing.T) {
	ev := newEvaluator(nil)
	ev.setRules([]*cityops.AlarmRule{riverRule()})
	steps := []struct {
		name string
		c    cityops.EntityChange
		want string
	}{
		{"below", gauge(gauge1, 16.45, 107.55, at(1), level(3.4, at(0)), levelAttr), ""},
		{"above, with its location", gauge(gauge1, 16.45, 107.55, at(2), level(3.6, at(1)), levelAttr),
			`raise river-high hue/` + gauge1 + ` 3.6 "` + gauge1 + ` at 3.6 m" at=1m0s 16.45,107.55`},
		{"another entity has its own state", gauge(gauge2, 16.46, 107.58, at(2), level(3.45, at(1)), levelAttr), ""},
		{"observedAt orders readings: an older one is ignored", gauge(gauge1, 16.45, 107.55, at(3), level(3.0, at(0.5)), levelAttr), ""},
		{"not among the attributes written", gauge(gauge1, 16.45, 107.55, at(4), level(3.0, at(3)), flowAttr), ""},
		{"non-numeric value ignored", gauge(gauge1, 16.45, 107.55, at(4), level("3.0", at(3)), levelAttr), ""},
		{"another dataset's instance ignored", gauge(gauge1, 16.45, 107.55, at(4), map[string][]cityops.Attr{levelAttr: {
			{"type": "Property", "value": 3.0, "datasetId": "urn:ngsi-ld:Dataset:backup", "observedAt": at(3).Format(time.RFC3339)},
			{"type": "Property", "value": 3.5, "observedAt": at(3).Format(time.RFC3339)},
		}}, levelAttr), ""},
		{"the whole entity written; no observedAt: the change's time", gauge(gauge1, 16.45, 107.55, at(5), map[string][]cityops.Attr{levelAttr: {
			{"type": "Property", "value": 3.2},
		}}), `end river-high hue/` + gauge1 + ` 3.2`},
		{"the entity lost the attribute", gauge(gauge1, 16.45, 107.55, at(6), nil, levelAttr), ""},
	}
	for _, s := range steps {
		ev.evaluate(&s.c)
		if got := outs(ev); got != s.want {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	if got, want := ev.readings, uint64(6); got != want {
		t.Errorf("readings: got %d, want %d", got, want)
	}
}

// TestEvaluateTenant checks that a rule watches its own tenant's
// entities only: the same entity id in another tenant, or in the default
// one, has nothing to do with it.
func TestEvaluateTenant(t *testing.T) {
	ev := newEvaluator(nil)
	def := riverRule()
	def.Tenant = ""
	def.ID, def.Code = 2, "river-high-default"
	ev.setRules([]*cityops.AlarmRule{riverRule(), def})
	in := func(tenant string, c cityops.EntityChange) *cityops.EntityChange {
		c.Tenant, c.Entity.Tenant = tenant, tenant
		return &c
	}
	steps := []struct {
		name string
		c    *cityops.EntityChange
		want string
	}{
		{"the rule's tenant", in("hue", gauge(gauge1, 16.45, 107.55, at(1), level(3.6, at(0)), levelAttr)),
			`raise river-high hue/` + gauge1 + ` 3.6 "` + gauge1 + ` at 3.6 m" at=0s 16.45,107.55`},
		{"another tenant", in("danang", gauge(gauge1, 16.45, 107.55, at(1), level(3.7, at(0)), levelAttr)), ""},
		{"the default tenant, for the rule without one", in("", gauge(gauge1, 16.45, 107.55, at(1), level(3.8, at(0)), levelAttr)),
			`raise river-high-default /` + gauge1 + ` 3.8 "` + gauge1 + ` at 3.8 m" at=0s 16.45,107.55`},
	}
	for _, s := range steps {
		ev.evaluate(s.c)
		if got := outs(ev); got != s.want {
			t.Errorf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	// Seeding a silence rule takes its tenant's entities only.
	silent := &cityops.AlarmRule{Tenant: "hue", ID: 3, Code: "quiet", Name: "Quiet", Severity: cityops.SeverityMinor, EntityType: gaugeType,
		Kind: cityops.RuleSilent, WindowMinutes: 10, Enabled: true}
	fresh := ev.setRules([]*cityops.AlarmRule{silent})
	ev.seed(fresh[0], []cityops.EntitySeen{{Tenant: "danang", ID: gauge1, Type: gaugeType, At: at(0)}, {Tenant: "hue", ID: gauge2, Type: gaugeType, At: at(0)}})
	var keys []string
	for k := range fresh[0].group.states {
		keys = append(keys, k.tenant+"/"+k.id)
	}
	if len(keys) != 1 || keys[0] != "hue/"+gauge2 {
		t.Errorf("seeded states %v, want only hue/%s", keys, gauge2)
	}
}

func TestEvaluateSelects(t *testing.T) {
	inArea := func(lat, lon float64, area string) bool { return area == "phu-hoi" && lat < 16.46 }
	one := riverRule()
	one.ID, one.Code, one.EntityID = 2, "one-gauge", gauge2
	area := riverRule()
	area.ID, area.Code, area.Area = 3, "in-phu-hoi", "phu-hoi"
	alert := riverRule()
	alert.ID, alert.Code, alert.EntityType = 4, "on-alerts", "https://smartdatamodels.org/dataModel.Alert/Alert"
	other := riverRule()
	other.ID, other.Code, other.EntityType = 5, "other-type", "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"

	for _, tt := range []struct {
		name   string
		inArea func(lat, lon float64, area string) bool
		c      cityops.EntityChange
		want   string
	}{
		{"the whole type, one entity and an area", inArea, gauge(gauge2, 16.45, 107.58, at(1), level(4.0, at(0)), levelAttr),
			"raise river-high, raise one-gauge, raise in-phu-hoi"},
		{"outside the area", inArea, gauge(gauge2, 16.5, 107.58, at(1), level(4.0, at(0)), levelAttr),
			"raise river-high, raise one-gauge"},
		{"another entity", inArea, gauge(gauge1, 16.45, 107.58, at(1), level(4.0, at(0)), levelAttr),
			"raise river-high, raise in-phu-hoi"},
		{"no InArea: rules with an area never match", nil, gauge(gauge1, 16.45, 107.58, at(1), level(4.0, at(0)), levelAttr),
			"raise river-high"},
		{"alerts are never watched", inArea, func() cityops.EntityChange {
			c := gauge("urn:ngsi-ld:Alert:1", 16.45, 107.58, at(1), level(4.0, at(0)), levelAttr)
			c.Type, c.Entity.Type = alert.EntityType, alert.EntityType
			return c
		}(), ""},
	} {
		ev := newEvaluator(tt.inArea)
		ev.setRules([]*cityops.AlarmRule{riverRule(), one, area, alert, other})
		ev.evaluate(&tt.c)
		var got []string
		for _, o := range ev.out {
			got = append(got, o.tr.action.String()+" "+o.rule.def.Code)
		}
		if g := strings.Join(got, ", "); g != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, g, tt.want)
		}
	}
}

func TestEvaluateSilent(t *testing.T) {
	anyAttr := &cityops.AlarmRule{Tenant: "hue", ID: 1, Code: "gauge-silent", Name: "Gauge silent", EntityType: gaugeType,
		Kind: cityops.RuleSilent, WindowMinutes: 30, Enabled: true}
	lvl := &cityops.AlarmRule{Tenant: "hue", ID: 2, Code: "level-silent", Name: "Level silent", EntityType: gaugeType, Attr: levelAttr,
		Kind: cityops.RuleSilent, WindowMinutes: 30, Enabled: true}
	ev := newEvaluator(nil)
	fresh := ev.setRules([]*cityops.AlarmRule{anyAttr, lvl})
	lat, lon := 16.45, 107.55
	seen := []cityops.EntitySeen{
		{Tenant: "hue", ID: gauge1, Type: gaugeType, At: at(0), Lat: &lat, Lon: &lon},
		{Tenant: "hue", ID: gauge2, Type: gaugeType, At: at(20)},
	}
	for _, r := range fresh {
		ev.seed(r, seen)
	}
	ev.tick(at(30))
	if got, want := sorted(outs(ev)), `raise gauge-silent hue/`+gauge1+` 30 "Gauge silent: 30 (`+gauge1+`)" at=30m0s 16.45,107.55; `+
		`raise level-silent hue/`+gauge1+` 30 "Level silent: 30 (`+gauge1+`)" at=30m0s 16.45,107.55`; got != want {
		t.Errorf("tick at 30:\ngot  %s\nwant %s", got, want)
	}
	// A write of the flow is a sign of life for the first rule only; the
	// change's time counts, not the observation's.
	c := gauge(gauge1, 16.45, 107.55, at(41), map[string][]cityops.Attr{flowAttr: {{"type": "Property", "value": "n/a", "observedAt": at(1).Format(time.RFC3339)}}}, flowAttr)
	ev.evaluate(&c)
	if got, want := outs(ev), `end gauge-silent hue/`+gauge1+` 41`; got != want {
		t.Errorf("flow written: got %s, want %s", got, want)
	}
	ev.tick(at(50))
	if got, want := outs(ev), `raise gauge-silent hue/`+gauge2+` 30 "Gauge silent: 30 (`+gauge2+`)" at=50m0s; `+
		`raise level-silent hue/`+gauge2+` 30 "Level silent: 30 (`+gauge2+`)" at=50m0s`; sorted(got) != want {
		t.Errorf("tick at 50:\ngot  %s\nwant %s", got, want)
	}
	c = gauge(gauge1, 16.45, 107.55, at(55), level(3.0, at(54)), levelAttr)
	ev.evaluate(&c)
	if got, want := outs(ev), `end level-silent hue/`+gauge1+` 55`; got != want {
		t.Errorf("level written: got %s, want %s", got, want)
	}
	// A deleted entity is forgotten: no silence is raised for it.
	del := cityops.EntityChange{Tenant: "hue", ID: gauge1, Type: gaugeType, Deleted: true, At: at(56)}
	ev.evaluate(&del)
	ev.tick(at(200))
	if got := outs(ev); got != "" {
		t.Errorf("tick after the deletion: got %s, want nothing", got)
	}
}

func sorted(s string) string {
	parts := strings.Split(s, "; ")
	for i := 1; i < len(parts); i++ {
		for j := i; j > 0 && parts[j] < parts[j-1]; j-- {
			parts[j], parts[j-1] = parts[j-1], parts[j]
		}
	}
	return strings.Join(parts, "; ")
}

func TestSeedFilters(t *testing.T) {
	r := &cityops.AlarmRule{Tenant: "hue", ID: 1, Code: "silent-in-area", Name: "Silent", EntityType: gaugeType, Area: "phu-hoi",
		Kind: cityops.RuleSilent, WindowMinutes: 30, Enabled: true}
	inArea := func(lat, lon float64, area string) bool { return lat < 16.46 }
	ev := newEvaluator(inArea)
	fresh := ev.setRules([]*cityops.AlarmRule{r})
	in, out := 16.45, 16.5
	lon := 107.55
	ev.seed(fresh[0], []cityops.EntitySeen{
		{Tenant: "hue", ID: "urn:in", Type: gaugeType, At: at(0), Lat: &in, Lon: &lon},
		{Tenant: "hue", ID: "urn:out", Type: gaugeType, At: at(0), Lat: &out, Lon: &lon},
		{Tenant: "hue", ID: "urn:nowhere", Type: gaugeType, At: at(0)},
		{Tenant: "hue", ID: "urn:other-type", Type: "Other", At: at(0), Lat: &in, Lon: &lon},
	})
	ev.tick(at(60))
	if got, want := outs(ev), `raise silent-in-area hue/urn:in 60 "Silent: 60 (urn:in)" at=1h0m0s 16.45,107.55`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestSetRules checks that a rule keeps its states when its condition did
// not change, and starts afresh when it did.
func TestSetRules(t *testing.T) {
	count := &cityops.AlarmRule{Tenant: "hue", ID: 7, Code: "often-high", Name: "Often high", EntityType: gaugeType, Attr: levelAttr,
		Kind: cityops.RuleCount, Op: ">", Value: 3.5, Count: 3, WindowMinutes: 60, Enabled: true}
	ev := newEvaluator(nil)
	if fresh := ev.setRules([]*cityops.AlarmRule{count}); len(fresh) != 1 {
		t.Fatalf("fresh rules: got %d, want 1", len(fresh))
	}
	read := func(m float64) string {
		c := gauge(gauge1, 0, 0, at(m), level(4.0, at(m)), levelAttr)
		ev.evaluate(&c)
		return outs(ev)
	}
	read(0)
	read(1)

	renamed := *count
	renamed.Message, renamed.Severity = "{entity}: often above 3.5 m", cityops.SeverityMajor
	if fresh := ev.setRules([]*cityops.AlarmRule{&renamed}); len(fresh) != 0 {
		t.Errorf("fresh rules after a new message: got %d, want 0", len(fresh))
	}
	if got, want := read(2), `raise often-high hue/`+gauge1+` 4 "`+gauge1+`: often above 3.5 m" at=2m0s 0,0`; got != want {
		t.Errorf("third reading: got %s, want %s", got, want)
	}

	changed := renamed
	changed.Count = 2
	if fresh := ev.setRules([]*cityops.AlarmRule{&changed}); len(fresh) != 1 {
		t.Errorf("fresh rules after a new count: got %d, want 1", len(fresh))
	}
	if got := read(3); got != "" {
		t.Errorf("first reading under the new condition: got %s, want nothing", got)
	}
	if got := read(4); !strings.HasPrefix(got, "raise often-high") {
		t.Errorf("second reading under the new condition: got %s, want a raise", got)
	}

	ev.setRules(nil)
	if got := read(5); got != "" || len(ev.groups) != 0 {
		t.Errorf("without rules: got %q and %d types", got, len(ev.groups))
	}
}

// TestSetRulesMoves checks that states follow their rules when the rules
// of a type are reordered, added and removed.
func TestSetRulesMoves(t *testing.T) {
	rule := func(id int64, code string, count int) *cityops.AlarmRule {
		return &cityops.AlarmRule{Tenant: "hue", ID: id, Code: code, Name: code, EntityType: gaugeType, Attr: levelAttr,
			Kind: cityops.RuleCount, Op: ">", Value: 3.5, Count: count, WindowMinutes: 60, Enabled: true}
	}
	a, b, c, d := rule(1, "a", 3), rule(2, "b", 4), rule(3, "c", 3), rule(4, "d", 1)
	ev := newEvaluator(nil)
	ev.setRules([]*cityops.AlarmRule{a, b, c})
	read := func(m float64) string {
		ch := gauge(gauge1, 0, 0, at(m), level(4.0, at(m)), levelAttr)
		ev.evaluate(&ch)
		var got []string
		for _, o := range ev.out {
			got = append(got, o.tr.action.String()+" "+o.rule.def.Code)
		}
		ev.out = nil
		return strings.Join(got, ", ")
	}
	read(0)
	read(1) // two hits for a, b and c
	ev.setRules([]*cityops.AlarmRule{d, b, a})
	if got, want := read(2), "raise d, raise a"; got != want {
		t.Errorf("third reading: got %q, want %q", got, want)
	}
	if got, want := read(3), "raise b"; got != want {
		t.Errorf("fourth reading: got %q, want %q", got, want)
	}
}

func TestRevert(t *testing.T) {
	ev := newEvaluator(nil)
	ev.setRules([]*cityops.AlarmRule{riverRule()})
	read := func(m, v float64) string {
		c := gauge(gauge1, 0, 0, at(m), level(v, at(m)), levelAttr)
		ev.evaluate(&c)
		s := outs(ev)
		if i := strings.Index(s, " \""); i > 0 {
			s = s[:i]
		}
		return s
	}
	c := gauge(gauge1, 0, 0, at(0), level(3.6, at(0)), levelAttr)
	ev.evaluate(&c)
	lost := ev.out[0]
	ev.out = nil
	if got := read(1, 3.7); got != "" {
		t.Errorf("while raised: got %s", got)
	}
	ev.revert(lost) // the raise never reached the Store
	if got, want := read(2, 3.7), "raise river-high hue/"+gauge1+" 3.7"; got != want {
		t.Errorf("after a lost raise: got %s, want %s", got, want)
	}
	c = gauge(gauge1, 0, 0, at(3), level(3.0, at(3)), levelAttr)
	ev.evaluate(&c)
	lost = ev.out[0]
	ev.out = nil
	ev.revert(lost) // the end never reached the Store
	if got, want := read(4, 3.1), "end river-high hue/"+gauge1+" 3.1"; got != want {
		t.Errorf("after a lost end: got %s, want %s", got, want)
	}
	ev.setRules([]*cityops.AlarmRule{}) // the rule is gone: nothing to undo
	ev.revert(lost)
}
