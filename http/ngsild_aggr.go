package http

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
)

// Temporal aggregation (GS CIM 009 clause 4.5.19): aggrMethods over
// buckets of aggrPeriodDuration, answered as [value, startAt, endAt]
// triples per method. Storage answers from hour and day roll-ups where
// the periods line up with them, and from the history blocks elsewhere.

var aggrMethodNames = map[string]bool{"totalCount": true, "distinctCount": true, "sum": true, "avg": true, "min": true, "max": true}

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations NGSI-LD uses for periods:
// weeks, days, hours, minutes and seconds (months and years vary in length
// and are refused).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("aggrPeriodDuration %q: use an ISO 8601 duration of weeks, days, hours, minutes or seconds such as PT1H or P1D", s)
	}
	// Whole units and nanoseconds are added as integers, so that a
	// duration too long for a time.Duration is refused, not wrapped
	// around to a negative one.
	var d time.Duration
	add := func(digits string, unit time.Duration) bool {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n > (math.MaxInt64-int64(d))/int64(unit) {
			return false
		}
		d += time.Duration(n) * unit
		return true
	}
	whole, frac, _ := strings.Cut(m[5], ".")
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
		digits := m[i+1]
		if i == 4 {
			digits = whole
		}
		if digits != "" && !add(digits, unit) {
			return 0, fmt.Errorf("aggrPeriodDuration %q is longer than %v", s, time.Duration(math.MaxInt64))
		}
	}
	if frac != "" && !add((frac + "00000000")[:9], time.Nanosecond) {
		return 0, fmt.Errorf("aggrPeriodDuration %q is longer than %v", s, time.Duration(math.MaxInt64))
	}
	return d, nil
}

// aggrValues turns storage's periods into the [value, startAt, endAt]
// triples of each method; a period without a number has no sum, avg,
// min or max.
func aggrValues(periods []cityops.AggrPeriod, methods []string) map[string][][]any {
	out := map[string][][]any{}
	// Each period's bounds are printed once, for all methods.
	from, to := make([]string, len(periods)), make([]string, len(periods))
	for i, p := range periods {
		from[i], to[i] = p.From.Format(time.RFC3339Nano), p.To.Format(time.RFC3339Nano)
	}
	for _, m := range methods {
		list := [][]any{}
		for i, p := range periods {
			var v any
			switch m {
			case "totalCount":
				v = p.Count
			case "distinctCount":
				v = p.Distinct
			case "sum":
				if p.Numbers > 0 {
					v = p.Sum
				}
			case "avg":
				if p.Numbers > 0 {
					v = p.Sum / float64(p.Numbers)
				}
			case "min":
				if p.Numbers > 0 {
					v = p.Min
				}
			case "max":
				if p.Numbers > 0 {
					v = p.Max
				}
			}
			if v == nil {
				continue
			}
			list = append(list, []any{v, from[i], to[i]})
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
		distinct := false
		for _, m := range methods {
			distinct = distinct || m == "distinctCount"
		}
		periods, err := s.Entities.Aggregate(r.Context(), e.Tenant, e.ID, name, from, to, period, distinct)
		if err != nil {
			return err
		}
		if len(periods) == 0 {
			continue
		}
		attr := map[string]any{"type": "Property"}
		for m, list := range aggrValues(periods, methods) {
			attr[m] = list
		}
		out[c.CompactIRI(name)] = attr
	}
	writeNGSI(w, r, http.StatusOK, out, ctxURL)
	return nil
}
