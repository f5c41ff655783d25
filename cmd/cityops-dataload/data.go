package main

import (
	"math"
	"strconv"
	"time"

	"github.com/cityops/cityops/ngsild/jsonld"
)

// The data every scenario sends: air-quality stations, deterministic so
// that a run can check what the server stored and two runs send the same.
// Bodies are built with appends, not encoding/json, so that the load
// tool takes as little as possible of the cores it shares with cityops.

// entityType is the stations' type; without a Link header it expands to
// the default vocabulary.
const entityType = "AirQualityObserved"

// idPrefix starts every entity id.
const idPrefix = "urn:ngsi-ld:AirQualityObserved:"

// unitCode is µg/m³ in UN/CEFACT common codes.
const unitCode = "GQ"

// dataStart is the first observation's time in the upsert, bulk and
// history scenarios; a fixed past date keeps runs comparable.
var dataStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// readingAttrs are the attributes each station reports every minute.
var readingAttrs = []string{"pm25", "no2"}

// expanded is an attribute's name as the server stores it.
func expanded(name string) string { return jsonld.DefaultVocab + name }

// mix is SplitMix64's finaliser: a cheap, well-spread hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// unit returns a deterministic number in [0, 1) for a seed.
func unit(seed uint64) float64 { return float64(mix(seed)>>11) / (1 << 53) }

// round1 rounds to one decimal, as a sensor reports.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// reading is station s's value of attribute a at minute m: a daily cycle
// plus noise.
func reading(s, a int, m int64) float64 {
	day := math.Sin(2 * math.Pi * float64(m%1440) / 1440)
	noise := 10 * unit(uint64(s)<<40^uint64(a)<<36^uint64(m))
	return round1(20 + 15*float64(a) + 10*day + noise)
}

// appendID appends a station's entity id: idPrefix, tag and a zero-padded
// number.
func appendID(b []byte, tag string, n int) []byte {
	b = append(b, idPrefix...)
	b = append(b, tag...)
	b = appendPadded(b, n, 5)
	return b
}

// appendPadded appends n with at least width digits.
func appendPadded(b []byte, n, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(n), 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// appendHead appends an entity object's start, up to its type.
func appendHead(b []byte, tag string, n int) []byte {
	b = append(b, `{"id":"`...)
	b = appendID(b, tag, n)
	return append(b, `","type":"`+entityType+`"`...)
}

// appendReading appends a Property with a number, its unit and when it
// was observed: the plain reading history stores most compactly.
func appendReading(b []byte, v float64, at []byte) []byte {
	b = append(b, `{"type":"Property","value":`...)
	b = strconv.AppendFloat(b, v, 'f', -1, 64)
	b = append(b, `,"unitCode":"`+unitCode+`","observedAt":"`...)
	b = append(b, at...)
	return append(b, `"}`...)
}

// appendTime appends t in RFC 3339, which the server keeps verbatim.
func appendTime(b []byte, t time.Time) []byte { return t.UTC().AppendFormat(b, time.RFC3339) }

// appendUpsertBatch appends a JSON array of size entities for the upsert
// scenario: update number i (from first on) goes to station i mod
// stations, with new values of the first attrs of readingAttrs (pm25,
// no2) observed a minute after that station's previous update.
func appendUpsertBatch(b []byte, first int64, size, stations, attrs int) []byte {
	var at []byte
	b = append(b, '[')
	for j := range size {
		i := first + int64(j)
		s, round := int(i%int64(stations)), i/int64(stations)
		if j > 0 {
			b = append(b, ',')
		}
		at = appendTime(at[:0], dataStart.Add(time.Duration(round)*time.Minute))
		b = appendHead(b, "hue-", s)
		for a, name := range readingAttrs[:attrs] {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendReading(b, reading(s, a, round), at)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// stream is the readings of the bulk scenarios: every station reports
// every attribute once a minute from start. Minute m holds
// stations × len(attrs) observations; requests carry whole minutes.
type stream struct {
	stations int
	attrs    []string
	start    time.Time
	tag      string // station ids are idPrefix + tag + number
	perLine  int    // temporal representation: instances per line; 0 = one reading per line
}

// perMinute is how many observations one minute holds.
func (s *stream) perMinute() int64 { return int64(s.stations * len(s.attrs)) }

// at is minute m's time.
func (s *stream) at(m int64) time.Time { return s.start.Add(time.Duration(m) * time.Minute) }

// appendMinutes appends the NDJSON lines of minutes [m0, m1): one reading
// per line, minute by minute (the server groups them by entity); or, in
// temporal representation, one line per station and attribute with up to
// perLine instances.
func (s *stream) appendMinutes(b []byte, m0, m1 int64) []byte {
	var at []byte
	if s.perLine <= 0 {
		for m := m0; m < m1; m++ {
			at = appendTime(at[:0], s.at(m))
			for st := range s.stations {
				for a, name := range s.attrs {
					b = appendHead(b, s.tag, st)
					b = append(b, `,"`...)
					b = append(b, name...)
					b = append(b, `":`...)
					b = appendReading(b, reading(st, a, m), at)
					b = append(b, "}\n"...)
				}
			}
		}
		return b
	}
	for k0 := m0; k0 < m1; k0 += int64(s.perLine) {
		k1 := min(k0+int64(s.perLine), m1)
		for st := range s.stations {
			for a, name := range s.attrs {
				b = appendHead(b, s.tag, st)
				b = append(b, `,"`...)
				b = append(b, name...)
				b = append(b, `":[`...)
				for m := k0; m < k1; m++ {
					if m > k0 {
						b = append(b, ',')
					}
					at = appendTime(at[:0], s.at(m))
					b = appendReading(b, reading(st, a, m), at)
				}
				b = append(b, "]}\n"...)
			}
		}
	}
	return b
}

// queryStation is entity i of the query scenario: a name, a skewed pm25
// (as real PM2.5 is: about 4 % of stations above 80) and three uniform
// numbers.
type queryStation struct {
	name                string
	pm25, pm10, no2, o3 float64
}

// queryNumbers is what the query scenario's entity i holds.
func queryNumbers(i int) queryStation {
	seed := uint64(i) << 8
	return queryStation{
		name: "Station " + string(appendPadded(nil, i, 6)),
		pm25: round1(100 * math.Pow(unit(seed+1), 5)),
		pm10: round1(150 * unit(seed+2)),
		no2:  round1(100 * unit(seed+3)),
		o3:   round1(200 * unit(seed+4)),
	}
}

// appendQueryEntity appends entity i of the query scenario as one NDJSON
// line: five attributes observed at the same time.
func appendQueryEntity(b []byte, i int, at []byte) []byte {
	q := queryNumbers(i)
	b = append(b, `{"id":"`...)
	b = append(b, idPrefix+"q-"...)
	b = appendPadded(b, i, 6)
	b = append(b, `","type":"`+entityType+`","name":{"type":"Property","value":"`...)
	b = append(b, q.name...)
	b = append(b, `","observedAt":"`...)
	b = append(b, at...)
	b = append(b, `"}`...)
	for _, kv := range []struct {
		k string
		v float64
	}{{"pm25", q.pm25}, {"pm10", q.pm10}, {"no2", q.no2}, {"o3", q.o3}} {
		b = append(b, `,"`...)
		b = append(b, kv.k...)
		b = append(b, `":`...)
		b = appendReading(b, kv.v, at)
	}
	return append(b, "}\n"...)
}
