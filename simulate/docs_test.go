package simulate

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests in this file hold the generator to docs/data-models.md: the
// tables there are parsed, not copied.

const docsPath = "../docs/data-models.md"

// attrDoc is one row of an entity table.
type attrDoc struct {
	name, kind, unit, rng string
}

// kpiDoc is one row of the KPI catalogue.
type kpiDoc struct {
	sector, unit, rng string
	standing          bool
}

type docs struct {
	models map[string][]attrDoc // by key: type, or Building/<category>
	kpis   map[string]kpiDoc    // by KPI slug
}

var backticked = regexp.MustCompile("`([^`]+)`")

func loadDocs(t testing.TB) docs {
	t.Helper()
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("reading the data-model docs: %v", err)
	}
	d := docs{models: map[string][]attrDoc{}, kpis: map[string]kpiDoc{}}
	// Only the first table after a "### `key`" heading is read; later
	// tables in the section (such as the alarm levels) are prose.
	key, inTable := "", false
	for n, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			key = ""
			continue
		case strings.HasPrefix(line, "### "):
			key, inTable = "", false
			if m := backticked.FindStringSubmatch(line); m != nil {
				key = m[1]
			}
			continue
		}
		if key == "" {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				key = ""
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) < 4 || strings.HasPrefix(cells[0], "---") || cells[0] == "attribute" || cells[0] == "KPI" {
			continue
		}
		name := strings.Trim(cells[0], "`")
		if key == "KPIs" {
			if len(cells) != 6 {
				t.Fatalf("%s:%d: KPI row needs 6 cells, has %d", docsPath, n+1, len(cells))
			}
			d.kpis[name] = kpiDoc{sector: cells[1], unit: cells[2], rng: cells[3], standing: cells[4] != "none"}
			continue
		}
		if len(cells) != 6 {
			t.Fatalf("%s:%d: attribute row needs 6 cells, has %d", docsPath, n+1, len(cells))
		}
		if src := cells[5]; src != "SDM" && src != "cityops ext." {
			t.Fatalf("%s:%d: source must be SDM or cityops ext., not %q", docsPath, n+1, src)
		}
		d.models[key] = append(d.models[key], attrDoc{name: name, kind: cells[1], unit: cells[2], rng: cells[3]})
	}
	for _, k := range []string{TypeAirQualityObserved, TypeFloodMonitoring, TypeTrafficFlowObserved, TypeOffStreetParking,
		TypeTourismPresenceObserved, "Building/hospital", "Building/school", TypeKeyPerformanceIndicator} {
		if len(d.models[k]) == 0 {
			t.Fatalf("%s documents no attributes for %s", docsPath, k)
		}
	}
	if len(d.kpis) == 0 {
		t.Fatalf("%s has no KPI catalogue", docsPath)
	}
	return d
}

// decode gives the entity as a JSON consumer sees it.
func decode(t testing.TB, e Entity) map[string]any {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("encoding %v: %v", e["id"], err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// plain converts an entity to the shapes encoding/json would decode it
// into (float64 numbers, []any lists) without the encoding round trip,
// for the tests that check hundreds of thousands of entities.
func plain(v any) any {
	switch x := v.(type) {
	case Entity:
		return plain(map[string]any(x))
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case int:
		return float64(x)
	case []string:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l
	case []float64:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = e
		}
		return l
	}
	return v
}

// docKey is the docs section that describes an entity.
func docKey(m map[string]any) string {
	typ, _ := m["type"].(string)
	if typ == TypeBuilding {
		if c, ok := m["category"].(map[string]any); ok {
			if l, ok := c["value"].([]any); ok && len(l) > 0 {
				return fmt.Sprintf("Building/%v", l[0])
			}
		}
	}
	return typ
}

var idPattern = regexp.MustCompile(`^urn:ngsi-ld:([A-Za-z]+):hue-[a-z0-9-]+$`)

func checkRange(v any, rng string) error {
	num := func() (float64, error) {
		f, ok := v.(float64)
		if !ok {
			return 0, fmt.Errorf("value %v (%T) is not a number", v, v)
		}
		return f, nil
	}
	bounds := func(s string) (float64, float64, error) {
		var lo, hi float64
		if _, err := fmt.Sscanf(s, "[%g, %g]", &lo, &hi); err != nil {
			return 0, 0, fmt.Errorf("bad range %q in the docs", s)
		}
		return lo, hi, nil
	}
	switch {
	case strings.HasPrefix(rng, "["):
		f, err := num()
		if err != nil {
			return err
		}
		lo, hi, err := bounds(rng)
		if err != nil {
			return err
		}
		if f < lo || f > hi || math.IsNaN(f) {
			return fmt.Errorf("value %v outside %s", f, rng)
		}
	case strings.HasPrefix(rng, "integer "):
		f, err := num()
		if err != nil {
			return err
		}
		if f != math.Trunc(f) {
			return fmt.Errorf("value %v is not an integer", f)
		}
		return checkRange(f, strings.TrimPrefix(rng, "integer "))
	case strings.HasPrefix(rng, "one of: "):
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("value %v is not text", v)
		}
		for _, o := range strings.Split(strings.TrimPrefix(rng, "one of: "), ",") {
			if strings.TrimSpace(o) == s {
				return nil
			}
		}
		return fmt.Errorf("value %q not %s", s, rng)
	case rng == "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("value %v is not a boolean", v)
		}
	case rng == "text":
		if s, ok := v.(string); !ok || s == "" {
			return fmt.Errorf("value %v is not non-empty text", v)
		}
	case rng == "list":
		if l, ok := v.([]any); !ok || len(l) == 0 {
			return fmt.Errorf("value %v is not a non-empty list", v)
		}
	case rng == "object":
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("value %v is not an object", v)
		}
	case rng == "DateTime":
		m, ok := v.(map[string]any)
		if !ok || m["@type"] != "DateTime" {
			return fmt.Errorf("value %v is not a typed DateTime", v)
		}
		return checkStamp(m["@value"])
	case rng == "Point":
		m, ok := v.(map[string]any)
		if !ok || m["type"] != "Point" {
			return fmt.Errorf("value %v is not a GeoJSON Point", v)
		}
		c, ok := m["coordinates"].([]any)
		if !ok || len(c) != 2 {
			return fmt.Errorf("point %v needs [lon, lat]", v)
		}
		lon, _ := c[0].(float64)
		lat, _ := c[1].(float64)
		if lat < 16.0 || lat > 16.8 || lon < 107.0 || lon > 108.2 {
			return fmt.Errorf("point %v is outside the Huế box", c)
		}
	case rng == "URN":
		if s, ok := v.(string); !ok || !strings.HasPrefix(s, "urn:ngsi-ld:") {
			return fmt.Errorf("value %v is not an NGSI-LD URN", v)
		}
	default:
		return fmt.Errorf("unknown range syntax %q in the docs", rng)
	}
	return nil
}

func checkStamp(v any) error {
	s, ok := v.(string)
	if !ok || !strings.HasSuffix(s, "Z") {
		return fmt.Errorf("time %v is not UTC text ending in Z", v)
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		return fmt.Errorf("time %q: %v", s, err)
	}
	return nil
}

// checkEntity returns every way an entity departs from the docs.
func (d docs) checkEntity(m map[string]any) []error {
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%v: "+format, append([]any{m["id"]}, a...)...))
	}
	id, _ := m["id"].(string)
	sub := idPattern.FindStringSubmatch(id)
	if sub == nil || sub[1] != m["type"] {
		fail("id does not match urn:ngsi-ld:<type>:hue-<slug> for type %v", m["type"])
	}
	key := docKey(m)
	attrs, ok := d.models[key]
	if !ok {
		fail("no docs section for %s", key)
		return errs
	}
	kpiSlug := strings.TrimPrefix(id, "urn:ngsi-ld:KeyPerformanceIndicator:hue-")
	documented := map[string]bool{"id": true, "type": true}
	for _, a := range attrs {
		documented[a.name] = true
		raw, present := m[a.name]
		optional := strings.HasSuffix(a.kind, "?")
		kind := strings.TrimSuffix(a.kind, "?")
		unit, rng := a.unit, a.rng
		if unit == "per KPI" || rng == "per KPI" {
			k, ok := d.kpis[kpiSlug]
			if !ok {
				fail("KPI %q is not in the catalogue", kpiSlug)
				continue
			}
			unit, rng = k.unit, k.rng
		}
		if a.name == "currentStanding" && key == TypeKeyPerformanceIndicator {
			if k, ok := d.kpis[kpiSlug]; ok && k.standing != present {
				fail("currentStanding present=%v, catalogue says standing=%v", present, k.standing)
			}
		}
		if !present {
			if !optional {
				fail("documented attribute %s is missing", a.name)
			}
			continue
		}
		obj, ok := raw.(map[string]any)
		if !ok {
			fail("%s is not an attribute object", a.name)
			continue
		}
		if obj["type"] != kind {
			fail("%s has type %v, docs say %s", a.name, obj["type"], kind)
		}
		switch kind {
		case "Relationship":
			if err := checkRange(obj["object"], rng); err != nil {
				fail("%s: %v", a.name, err)
			}
			continue
		case "GeoProperty", "Property":
			if _, has := obj["value"]; !has {
				fail("%s has no value", a.name)
				continue
			}
		}
		got, hasUnit := obj["unitCode"]
		switch {
		case unit == "—" && hasUnit:
			fail("%s has unitCode %v, docs say none", a.name, got)
		case unit != "—" && got != unit:
			fail("%s has unitCode %v, docs say %s", a.name, got, unit)
		}
		if at, has := obj["observedAt"]; has {
			if err := checkStamp(at); err != nil {
				fail("%s observedAt: %v", a.name, err)
			}
		}
		if err := checkRange(obj["value"], rng); err != nil {
			fail("%s: %v", a.name, err)
		}
	}
	for k := range m {
		if !documented[k] {
			fail("attribute %s is not documented in %s", k, key)
		}
	}
	return errs
}

// TestEntitiesFollowDocs checks every entity at instants that cover day and
// night, weekdays and weekends, term and holiday, and a flood.
func TestEntitiesFollowDocs(t *testing.T) {
	d := loadDocs(t)
	flood := &FloodEvent{Start: at(2026, 11, 1, 0, 0), Peak: 30 * time.Hour, PeakLevel: 4.2}
	tests := []struct {
		name string
		t    time.Time
		opts Options
	}{
		{"weekday morning rush", at(2026, 3, 10, 7, 30), Options{}},
		{"saturday night opening", at(2026, 3, 14, 20, 30), Options{}},
		{"sunday night in July", at(2026, 7, 5, 3, 0), Options{}},
		{"flood peak", at(2026, 11, 2, 6, 0), Options{Flood: flood}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, 42, HueSites(), tc.opts)
			ents := g.At(tc.t)
			if len(ents) != len(HueSites()) {
				t.Fatalf("At returned %d entities for %d sites", len(ents), len(HueSites()))
			}
			seen := map[string]bool{}
			for _, e := range ents {
				m := decode(t, e)
				if seen[m["id"].(string)] {
					t.Errorf("duplicate id %v", m["id"])
				}
				seen[m["id"].(string)] = true
				for _, err := range d.checkEntity(m) {
					t.Error(err)
				}
				checkConsistency(t, m)
			}
		})
	}
}

// checkConsistency checks relations between attributes of one entity.
func checkConsistency(t testing.TB, m map[string]any) {
	t.Helper()
	val := func(k string) float64 {
		a, _ := m[k].(map[string]any)
		f, _ := a["value"].(float64)
		return f
	}
	switch docKey(m) {
	case TypeOffStreetParking:
		if val("occupiedSpotNumber")+val("availableSpotNumber") != val("totalSpotNumber") {
			t.Errorf("%v: occupied + available != total", m["id"])
		}
		if math.Abs(val("occupancy")-val("occupiedSpotNumber")/val("totalSpotNumber")) > 0.001 {
			t.Errorf("%v: occupancy %v does not match the spots", m["id"], val("occupancy"))
		}
	case "Building/hospital":
		want := 100 * (val("bedsTotal") - val("bedsAvailable")) / val("bedsTotal")
		if math.Abs(val("bedOccupancyRate")-want) > 0.051 {
			t.Errorf("%v: bedOccupancyRate %v, beds say %.2f", m["id"], val("bedOccupancyRate"), want)
		}
	case "Building/school":
		if val("studentsPresent") > val("studentsEnrolled") {
			t.Errorf("%v: more students present than enrolled", m["id"])
		}
	case TypeFloodMonitoring:
		lv, a := val("currentLevel"), [3]float64{val("alertLevel"), val("alarmLevel2"), val("dangerLevel")}
		stage, status := floodStatus(lv, a)
		if float64(stage) != val("alarmStage") || m["floodLevelStatus"].(map[string]any)["value"] != status {
			t.Errorf("%v: level %v gives stage %d %s, entity says %v", m["id"], lv, stage, status, val("alarmStage"))
		}
	}
}

// TestYearWithinDocumentedRanges samples a whole year hourly, with a big
// flood in it, and holds every value to the documented ranges.
func TestYearWithinDocumentedRanges(t *testing.T) {
	if testing.Short() {
		t.Skip("a simulated year")
	}
	d := loadDocs(t)
	flood := &FloodEvent{Start: at(2026, 10, 20, 12, 0), Peak: 36 * time.Hour, PeakLevel: 5.0}
	g := mustNew(t, 2026, HueSites(), Options{Flood: flood})
	start := at(2026, 1, 1, 0, 0)
	// The encoding round trip is checked elsewhere; plain() mirrors it here.
	e0 := g.At(start)[0]
	if encodeAll(t, []Entity{e0}) != encodeAll(t, []Entity{Entity(plain(e0).(map[string]any))}) {
		t.Fatal("plain() does not mirror encoding/json")
	}
	for q := range 4 {
		t.Run(fmt.Sprintf("quarter %d", q+1), func(t *testing.T) {
			t.Parallel()
			failures := 0
			from := start.AddDate(0, 3*q, 0)
			for tt := from; tt.Before(from.AddDate(0, 3, 0)); tt = tt.Add(time.Hour) {
				for _, e := range g.At(tt) {
					for _, err := range d.checkEntity(plain(e).(map[string]any)) {
						t.Errorf("%s: %v", tt.Format(time.RFC3339), err)
						if failures++; failures > 20 {
							t.Fatal("too many failures")
						}
					}
				}
			}
		})
	}
}

func TestDocsListEverySiteType(t *testing.T) {
	d := loadDocs(t)
	for _, s := range HueSites() {
		key := s.Type
		if s.Type == TypeBuilding {
			key += "/" + s.Category
		}
		if _, ok := d.models[key]; !ok {
			t.Errorf("site %s: type %s is not documented", s.ID, key)
		}
		if s.Type == TypeKeyPerformanceIndicator {
			k, ok := d.kpis[s.ID]
			if !ok {
				t.Errorf("KPI %s is not in the catalogue", s.ID)
				continue
			}
			if k.unit != kpiUnits[s.Category] || k.sector != s.Sector {
				t.Errorf("KPI %s: catalogue says %s/%s, code %s/%s", s.ID, k.unit, k.sector, kpiUnits[s.Category], s.Sector)
			}
			if k.standing != (kpis[s.Category].standing != nil) {
				t.Errorf("KPI %s: catalogue and code disagree on standing thresholds", s.ID)
			}
		}
	}
	// Numbers the docs state in prose must match the code.
	b, _ := os.ReadFile(docsPath)
	text := string(b)
	for _, s := range HueSites() {
		if s.Type == TypeFloodMonitoring {
			for _, a := range s.Alarms {
				if !strings.Contains(text, "| "+strconv.FormatFloat(a, 'f', 1, 64)+" |") {
					t.Errorf("alarm level %v of %s is not in the docs' alarm table", a, s.ID)
				}
			}
		}
	}
}
