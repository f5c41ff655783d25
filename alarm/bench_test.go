package alarm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// city is a benchmark fixture: 1,000 enabled rules over 40 entity types (a
// mix of every kind, some on one entity or an area) and 10,000 entities
// that each write their four measurements once a minute.
type city struct {
	rules   []*cityops.AlarmRule
	changes []cityops.EntityChange
	names   []string     // the measurements' attributes
	walk    [][4]float64 // each entity's values, a random walk
	rng     *rand.Rand
	round   int
	inArea  func(lat, lon float64, area string) bool
}

const (
	benchTypes    = 40
	benchRules    = 1000
	benchEntities = 10000
	benchRounds   = 4 // changes prepared per entity; then they are stamped again
)

func newCity() *city {
	c := &city{rng: rand.New(rand.NewPCG(1, 2))}
	typ := func(i int) string { return fmt.Sprintf("https://smartdatamodels.org/dataModel.Bench/Type%02d", i) }
	attr := func(i int) string { return fmt.Sprintf("https://smartdatamodels.org/dataModel.Bench/measure%d", i) }
	id := func(i int) string { return fmt.Sprintf("urn:ngsi-ld:Bench:%05d", i) }
	// Ten wards, bands of latitude.
	wards := map[string]float64{}
	for k := range 10 {
		wards[fmt.Sprintf("ward-%d", k)] = 16.4 + float64(k)*0.01
	}
	c.inArea = func(lat, lon float64, area string) bool {
		from, ok := wards[area]
		return ok && lat >= from && lat < from+0.01
	}
	for i := range benchRules {
		t, j := i%benchTypes, i/benchTypes // 25 rules per type
		r := &cityops.AlarmRule{Tenant: "hue", ID: int64(i + 1), Code: fmt.Sprintf("rule-%04d", i), Name: fmt.Sprintf("Rule %d", i),
			Severity: cityops.SeverityMinor, EntityType: typ(t), Attr: attr(j % 4), Enabled: true, AutoClear: true}
		switch {
		case j < 12:
			r.Kind, r.Op, r.Value = cityops.RuleThreshold, ">", 70+float64(j)
			if j%3 == 1 {
				r.Clear = ptr(r.Value - 2)
			}
			if j%3 == 2 {
				r.ForMinutes = 5
			}
			if j == 11 {
				r.Area = fmt.Sprintf("ward-%d", t%10)
			}
			if j == 10 {
				r.EntityID = id(t)
			}
		case j < 17:
			r.Kind, r.Op, r.Value, r.WindowMinutes = cityops.RuleRate, ">", 6, 60
		case j < 22:
			r.Kind, r.Op, r.Value, r.Count, r.WindowMinutes = cityops.RuleCount, ">", 75, 3, 10
		default:
			r.Kind, r.WindowMinutes = cityops.RuleSilent, 30
			if j == 22 {
				r.Attr = ""
			}
		}
		c.rules = append(c.rules, r)
	}
	c.walk = make([][4]float64, benchEntities)
	locs := make([]cityops.Attr, benchEntities)
	for i := range c.walk {
		for k := range 4 {
			c.walk[i][k] = 40 + c.rng.Float64()*30
		}
		lat, lon := 16.4+c.rng.Float64()*0.1, 107.5+c.rng.Float64()*0.1
		locs[i] = cityops.Attr{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []any{lon, lat}}}
	}
	c.names = []string{attr(0), attr(1), attr(2), attr(3)}
	names := c.names
	for range benchRounds {
		for i := range benchEntities {
			e := &cityops.Entity{ID: id(i), Type: typ(i % benchTypes), Tenant: "hue", Attrs: map[string][]cityops.Attr{
				cityops.LocationAttr: {locs[i]},
			}}
			for k := range 4 {
				e.Attrs[names[k]] = []cityops.Attr{{"type": "Property", "unitCode": "C62"}}
			}
			c.changes = append(c.changes, cityops.EntityChange{Tenant: "hue", ID: e.ID, Type: e.Type, Entity: e, Attrs: names})
		}
	}
	c.stamp()
	return c
}

// stamp gives the prepared changes the next values and times: one round a
// minute, the entities spread over it.
func (c *city) stamp() {
	for n := range c.changes {
		ch := &c.changes[n]
		i := n % benchEntities
		tm := t0.Add(time.Duration(c.round)*time.Minute + time.Duration(i)*5*time.Millisecond)
		obs := tm.Format(time.RFC3339Nano)
		for k, name := range c.names {
			w := &c.walk[i][k]
			*w = min(max(*w+c.rng.NormFloat64()*3, 0), 100)
			a := ch.Entity.Attrs[name][0]
			a["value"], a["observedAt"] = *w, obs
		}
		ch.At = tm.Add(time.Second)
		if i == benchEntities-1 {
			c.round++
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	c := newCity()
	ev := newEvaluator(c.inArea)
	ev.setRules(c.rules)
	// One pass first, so that the states exist, as they do in a running
	// engine.
	for i := range c.changes {
		ev.evaluate(&c.changes[i])
	}
	c.stamp()
	ev.out, ev.readings = nil, 0
	transitions := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i % len(c.changes)
		if n == 0 && i > 0 {
			b.StopTimer()
			c.stamp()
			b.StartTimer()
		}
		ev.evaluate(&c.changes[n])
		transitions += len(ev.out)
		ev.out = ev.out[:0]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(ev.readings)/float64(b.N), "readings/change")
	b.ReportMetric(float64(transitions)/float64(b.N), "transitions/change")
}

// BenchmarkTick measures a tick over the states of 10,000 entities.
func BenchmarkTick(b *testing.B) {
	c := newCity()
	ev := newEvaluator(c.inArea)
	ev.setRules(c.rules)
	for i := range c.changes {
		ev.evaluate(&c.changes[i])
	}
	states := 0
	for _, g := range ev.groups {
		for _, r := range g.rules {
			if r.ticks {
				states += len(g.states)
			}
		}
	}
	now := t0.Add(10 * time.Minute)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev.tick(now)
		ev.out = ev.out[:0]
	}
	b.ReportMetric(float64(states), "states")
}

// BenchmarkEngine measures the whole path, Listen to Flush, with a Store
// that does nothing.
func BenchmarkEngine(b *testing.B) {
	c := newCity()
	e := New(nopStore{c.rules}, Options{InArea: c.inArea, Queue: 1 << 20, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	e.Listen(c.changes)
	if err := e.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	c.stamp()
	const batch = 100
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := i % len(c.changes)
		if n == 0 && i > 0 {
			e.Flush(ctx)
			b.StopTimer()
			c.stamp()
			b.StartTimer()
		}
		e.Listen(c.changes[n:min(n+batch, len(c.changes), n+b.N-i)])
	}
	if err := e.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
	if st := e.Stats(); st.Dropped > 0 {
		b.Errorf("dropped %d changes", st.Dropped)
	}
}

type nopStore struct{ rules []*cityops.AlarmRule }

func (s nopStore) AlarmRules(context.Context) ([]*cityops.AlarmRule, error) { return s.rules, nil }
func (nopStore) RaiseAlarm(ctx context.Context, in *cityops.AlarmRaise) (*cityops.Alarm, error) {
	return &cityops.Alarm{}, nil
}
func (nopStore) EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*cityops.Alarm, error) {
	return nil, nil
}
func (nopStore) LastSeen(context.Context, string) ([]cityops.EntitySeen, error) { return nil, nil }

// BenchmarkStep measures one reading of one state, per kind.
func BenchmarkStep(b *testing.B) {
	for _, r := range []*cityops.AlarmRule{
		{Kind: cityops.RuleThreshold, Op: ">", Value: 3.5, Clear: ptr(3.3)},
		{Kind: cityops.RuleThreshold, Op: ">", Value: 3.5, ForMinutes: 5},
		{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60},
		{Kind: cityops.RuleCount, Op: ">", Value: 3.5, Count: 3, WindowMinutes: 10},
		{Kind: cityops.RuleSilent, WindowMinutes: 30},
	} {
		name := r.Kind
		if r.ForMinutes > 0 {
			name += "-for"
		}
		b.Run(name, func(b *testing.B) {
			var s state
			for i := 0; i < b.N; i++ {
				step(r, &s, t0.Add(time.Duration(i)*time.Minute), 3+float64(i%10)/10)
			}
		})
	}
}
