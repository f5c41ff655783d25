package main

// The alarms scenario's city: -devices devices spread over -types
// synthetic entity types (LoadSensorT00, LoadSensorT01, …), each feeding
// its own entity with four measurements, and -rules alarm rules over
// those types. Every type's first rule is its trigger: level > 100,
// clearing under 90, at once; the tool's crossings cross it and nothing
// else. The other rules are of every kind, with thresholds, changes and
// counts the devices' normal readings never reach, so that they cost
// their evaluation and raise nothing.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/internal/loadtool"
)

// The trigger rules' levels, and the crossings' values above them.
const (
	triggerAbove = 100.0
	triggerClear = 90.0
	crossingLow  = 120.0 // a crossing's level is crossingLow + (k mod 800)/10
)

// caseCategory is the demo category the case-opening trigger rules open
// their cases in; caseTypes is how many types' triggers open one.
const (
	caseCategory = "environment.pollution"
	caseTypes    = 2
)

// deviceKey is the topic's first level, /{key}/{deviceId}/attrs.
const deviceKey = "iocload"

// measurement is one of a device's payload keys and its attribute.
type measurement struct{ key, attr string }

// measurements are what every device sends, each message all four.
var measurements = []measurement{{"l", "level"}, {"t", "temperature"}, {"h", "humidity"}, {"f", "flow"}}

// world is the devices and rules of a run.
type world struct {
	types, devices int
	rules          int
	// triggers is how many types have a trigger rule (all unless there
	// are fewer rules than types); only their devices cross.
	triggers int
}

func newWorld(o options) *world {
	return &world{types: o.types, devices: o.devices, rules: o.rules, triggers: min(o.types, o.rules)}
}

func typeName(t int) string       { return fmt.Sprintf("LoadSensorT%02d", t) }
func deviceID(d int) string       { return fmt.Sprintf("d%05d", d) }
func (w *world) typeOf(d int) int { return d % w.types }

func (w *world) entityID(d int) string {
	return "urn:ngsi-ld:" + typeName(w.typeOf(d)) + ":" + deviceID(d)
}

// triggerCode is the code of type t's trigger rule.
func triggerCode(t int) string { return fmt.Sprintf("iocload-t%02d-00", t) }

// crosses reports whether device d's type has a trigger rule.
func (w *world) crosses(d int) bool { return w.typeOf(d) < w.triggers }

// opensCase reports whether device d's trigger opens a case.
func (w *world) opensCase(d int) bool { return w.typeOf(d) < min(caseTypes, w.triggers) }

// normal is a device's ordinary reading of measurement i for message
// seq: level 10–20, temperature 20–30, humidity 40–60, flow 1–5.
func normal(i int, seq int) float64 {
	u := unit(uint64(seq)<<3 ^ uint64(i))
	lo, width := [4]float64{10, 20, 40, 1}[i], [4]float64{10, 10, 20, 4}[i]
	return float64(int((lo+width*u)*10)) / 10
}

// shape is one of the quiet rules' conditions.
type shape struct {
	kind, attr, op string
	value          float64
	clear          string // empty: the value
	forMinutes     int
	window, count  int
}

// quietShapes are the other rules, cycled over each type: most are
// thresholds (some held for minutes, some with hysteresis), then rates of
// change, counts in a window and long silences. The readings never meet
// them; rates and counts leave out level, which the crossings move.
var quietShapes = []shape{
	{"threshold", "level", ">", 1000, "", 0, 0, 0},
	{"threshold", "level", ">", 2000, "1800", 5, 0, 0},
	{"threshold", "temperature", ">", 60, "55", 0, 0, 0},
	{"threshold", "temperature", ">", 70, "", 10, 0, 0},
	{"threshold", "temperature", "<", -10, "-5", 0, 0, 0},
	{"threshold", "humidity", ">", 98, "95", 15, 0, 0},
	{"threshold", "humidity", "<", 5, "8", 0, 0, 0},
	{"threshold", "flow", ">", 50, "45", 0, 0, 0},
	{"threshold", "flow", ">", 80, "", 30, 0, 0},
	{"threshold", "flow", "<", -1, "", 0, 0, 0},
	{"threshold", "level", "<", -5, "-4", 0, 0, 0},
	{"threshold", "temperature", ">=", 80, "", 60, 0, 0},
	{"threshold", "humidity", ">=", 100, "", 0, 0, 0},
	{"threshold", "level", ">=", 5000, "", 120, 0, 0},
	{"rate", "temperature", ">=", 20, "10", 0, 10, 0},
	{"rate", "humidity", ">=", 30, "", 0, 15, 0},
	{"rate", "flow", ">=", 40, "", 0, 5, 0},
	{"rate", "temperature", "<=", -20, "-10", 0, 10, 0},
	{"rate", "humidity", "<=", -30, "", 0, 30, 0},
	{"count", "flow", ">", 40, "", 0, 10, 3},
	{"count", "temperature", ">", 50, "", 0, 60, 5},
	{"count", "humidity", "<", 10, "", 0, 30, 3},
	{"silent", "", "", 0, "", 0, 1440, 0},
	{"silent", "flow", "", 0, "", 0, 720, 0},
}

// ruleMix counts the rules of the CSV by what they are.
type ruleMix struct {
	triggers, caseTriggers             int
	thresholds, rates, counts, silents int
	held, hysteresis                   int
}

// rulesCSV is the CSV import of w.rules enabled rules: rule i watches
// type i mod types; each type's first is its trigger.
func (w *world) rulesCSV() ([]byte, ruleMix) {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	cw.Write([]string{"code", "name", "sector", "severity", "entity_type", "attr", "kind", "op", "value", "clear", "for_minutes",
		"window_minutes", "count", "auto_clear", "category", "due_hours", "enabled"})
	sectors := []string{cityops.SectorEnvironment, cityops.SectorTransport, cityops.SectorTourism, cityops.SectorHealth, cityops.SectorEducation}
	var mix ruleMix
	itoa := strconv.Itoa
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	for i := range w.rules {
		t, j := i%w.types, i/w.types
		code := fmt.Sprintf("iocload-t%02d-%02d", t, j)
		sector := sectors[t%len(sectors)]
		severity := cityops.Severities[i%len(cityops.Severities)]
		if j == 0 {
			category, due := "", ""
			if t < caseTypes {
				category, due = caseCategory, "24"
				mix.caseTriggers++
			}
			mix.triggers++
			mix.hysteresis++
			cw.Write([]string{code, "Load trigger " + typeName(t), sector, severity, typeName(t), "level", "threshold", ">",
				num(triggerAbove), num(triggerClear), "0", "", "", "true", category, due, "true"})
			continue
		}
		sh := quietShapes[(j-1)%len(quietShapes)]
		switch sh.kind {
		case "threshold":
			mix.thresholds++
			if sh.forMinutes > 0 {
				mix.held++
			}
			if sh.clear != "" {
				mix.hysteresis++
			}
		case "rate":
			mix.rates++
		case "count":
			mix.counts++
		case "silent":
			mix.silents++
		}
		value, forMinutes, window, count := "", "", "", ""
		if sh.kind != "silent" {
			value = num(sh.value)
		}
		if sh.forMinutes > 0 {
			forMinutes = itoa(sh.forMinutes)
		}
		if sh.window > 0 {
			window = itoa(sh.window)
		}
		if sh.count > 0 {
			count = itoa(sh.count)
		}
		cw.Write([]string{code, fmt.Sprintf("Load %s %s %s", sh.kind, typeName(t), sh.attr), sector, severity, typeName(t), sh.attr,
			sh.kind, sh.op, value, sh.clear, forMinutes, window, count, "true", "", "", "true"})
	}
	cw.Flush()
	return b.Bytes(), mix
}

// setUpWorld creates the devices' entities (with a name and a point in
// Huế, so that alarms are placed on the map), registers the devices and
// imports the rules.
func (s *session) setUpWorld(ctx context.Context, w *world) (ruleMix, error) {
	const batch = 500
	for d0 := 0; d0 < w.devices; d0 += batch {
		var ents []map[string]any
		for d := d0; d < min(d0+batch, w.devices); d++ {
			lat, lon := 16.40+0.12*unit(uint64(d)<<1), 107.52+0.14*unit(uint64(d)<<1|1)
			ents = append(ents, map[string]any{
				"id": w.entityID(d), "type": typeName(w.typeOf(d)),
				"name":     map[string]any{"type": "Property", "value": "Load sensor " + deviceID(d)},
				"location": map[string]any{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []float64{lon, lat}}},
			})
		}
		body, _ := json.Marshal(ents)
		rep, err := s.api.Do(ctx, http.MethodPost, "/ngsi-ld/v1/entityOperations/upsert", "application/json", body)
		if err != nil {
			return ruleMix{}, fmt.Errorf("create the devices' entities: %w", err)
		}
		if rep.Status != http.StatusCreated && rep.Status != http.StatusNoContent {
			return ruleMix{}, fmt.Errorf("create the devices' entities: %s", loadtool.StatusKind(rep))
		}
	}

	var next atomic.Int64
	var once sync.Once
	var failed atomic.Bool
	var failure error
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil && !failed.Load() {
				d := int(next.Add(1) - 1)
				if d >= w.devices {
					return
				}
				dev := map[string]any{"id": deviceID(d), "key": deviceKey, "entity_id": w.entityID(d), "entity_type": typeName(w.typeOf(d))}
				var attrs []map[string]string
				for _, m := range measurements {
					attrs = append(attrs, map[string]string{"object_id": m.key, "name": m.attr})
				}
				dev["attrs"] = attrs
				body, _ := json.Marshal(dev)
				rep, err := s.api.Do(ctx, http.MethodPost, "/api/v1/devices", "application/json", body)
				if err == nil && rep.Status != http.StatusCreated {
					err = fmt.Errorf("%s", loadtool.StatusKind(rep))
				}
				if err != nil {
					once.Do(func() { failure = fmt.Errorf("register device %s: %w", deviceID(d), err); failed.Store(true) })
					return
				}
			}
		})
	}
	wg.Wait()
	if failure != nil {
		return ruleMix{}, failure
	}
	if err := ctx.Err(); err != nil {
		return ruleMix{}, err
	}

	body, mix := w.rulesCSV()
	rep, err := s.api.Do(ctx, http.MethodPost, "/api/v1/alarm-rules.csv", "text/csv", body)
	if err != nil {
		return mix, fmt.Errorf("import the rules: %w", err)
	}
	if rep.Status != http.StatusOK {
		return mix, fmt.Errorf("import the rules: %s", loadtool.StatusKind(rep))
	}
	return mix, nil
}

// usersFile writes the embedded broker's users: one device account that
// may publish under deviceKey. It returns the password.
func usersFile(path string) (string, error) {
	pass := rand.Text()
	err := os.WriteFile(path, []byte("iocload "+pass+" "+deviceKey+"\n"), 0o600)
	return pass, err
}
