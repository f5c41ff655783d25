package http

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/cityops/cityops"
)

// Temporal aggregation (GS CIM 009 clause 4.5.19): aggrMethods over
// buckets of aggrPeriodDuration, answered as [value, startAt, endAt]
// triples per method. It is computed from the stored instances; roll-ups
// that make a year of minutes fast are still to come.

var aggrMethodNames = map[string]bool{"totalCount": true, "distinctCount": true, "sum": true, "avg": true, "min": true, "max": true}

// maxAggrInstances bounds the instances one aggregation reads.
const maxAggrInstances = 2_000_000

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations NGSI-LD uses for periods:
// weeks, days, hours, minutes and seconds (months and years vary in length
// and are refused).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("aggrPeriodDuration %q: use an ISO 8601 duration of weeks, days, hours, minutes or seconds such as PT1H or P1D", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, _ := strconv.ParseFloat(m[5], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// aggregate computes the methods over buckets of period from start.
func aggregate(hist []cityops.Instance, methods []string, start, end time.Time, period time.Duration) map[string][][]any {
	type bucket struct {
		n, count  int
		sum       float64
		min, max  float64
		distinct  map[string]bool
		from, to  time.Time
		hasNumber bool
	}
	var buckets []*bucket
	index := map[int]*bucket{}
	for _, in := range hist {
		k := 0
		if period > 0 {
			k = int(in.ObservedAt.Sub(start) / period)
		}
		b := index[k]
		if b == nil {
			from := start.Add(time.Duration(k) * period)
			to := from.Add(period)
			if period == 0 {
				from, to = start, end
			}
			b = &bucket{distinct: map[string]bool{}, min: math.Inf(1), max: math.Inf(-1), from: from, to: to}
			index[k] = b
			buckets = append(buckets, b)
		}
		b.count++
		v := in.Value["value"]
		if o, ok := in.Value["object"]; ok {
			v = o
		}
		b.distinct[fmt.Sprint(v)] = true
		if f, ok := v.(float64); ok {
			b.n++
			b.sum += f
			b.min, b.max = math.Min(b.min, f), math.Max(b.max, f)
			b.hasNumber = true
		}
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].from.Before(buckets[j].from) })
	out := map[string][][]any{}
	for _, m := range methods {
		list := [][]any{}
		for _, b := range buckets {
			var v any
			switch m {
			case "totalCount":
				v = b.count
			case "distinctCount":
				v = len(b.distinct)
			case "sum":
				v = b.sum
			case "avg":
				if b.n > 0 {
					v = b.sum / float64(b.n)
				}
			case "min":
				if b.hasNumber {
					v = b.min
				}
			case "max":
				if b.hasNumber {
					v = b.max
				}
			}
			if v == nil {
				continue // no number in this bucket
			}
			list = append(list, []any{v, b.from.Format(time.RFC3339Nano), b.to.Format(time.RFC3339Nano)})
		}
		out[m] = list
	}
	return out
}

// handleTemporalAggregate answers GET /temporal/entities/{id} with
// aggrMethods: each attribute's aggregated values over the window.
func (s *Server) handleTemporalAggregate(w http.ResponseWriter, r *http.Request, e *cityops.Entity, attrs []string, from, to time.Time, ctxURL string) error {
	qv := r.URL.Query()
	methods := splitList(qv.Get("aggrMethods"))
	for _, m := range methods {
		if !aggrMethodNames[m] {
			return ngsiErr(errBadRequestData, "aggrMethods %q: use totalCount, distinctCount, sum, avg, min or max", m)
		}
	}
	if qv.Get("timerel") != "between" {
		return ngsiErr(errBadRequestData, "an aggregation needs timerel=between with timeAt and endTimeAt")
	}
	var period time.Duration
	if p := qv.Get("aggrPeriodDuration"); p != "" {
		d, err := parseISODuration(p)
		if err != nil {
			return ngsiErr(errBadRequestData, "%v", err)
		}
		if d > 0 && to.Sub(from)/d > 100_000 {
			return ngsiErr(errBadRequestData, "aggrPeriodDuration %s makes more than 100,000 periods in the window", p)
		}
		period = d
	}
	c, _, err := s.requestContext(r)
	if err != nil {
		return err
	}
	out := map[string]any{"id": e.ID, "type": c.CompactIRI(e.Type)}
	names := attrs
	if len(names) == 0 {
		for n := range e.Attrs {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		if _, ok := e.Attrs[name]; !ok {
			continue
		}
		hist, err := s.Entities.History(r.Context(), e.Tenant, e.ID, name, from, to, maxAggrInstances, false)
		if err != nil {
			return err
		}
		if len(hist) == 0 {
			continue
		}
		attr := map[string]any{"type": "Property"}
		for m, list := range aggregate(hist, methods, from, to, period) {
			attr[m] = list
		}
		out[c.CompactIRI(name)] = attr
	}
	writeNGSI(w, r, http.StatusOK, out, ctxURL)
	return nil
}
