package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// temporalStart is the first minute of the temporal scenario's year
// (2025: 365 days, 525,600 minutes).
var temporalStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// aggrMethods are the aggregations every temporal query asks for.
const aggrMethods = "avg,min,max,totalCount"

// aggrQuery is one timed temporal aggregation.
type aggrQuery struct {
	label    string
	from, to time.Time
	period   string        // aggrPeriodDuration
	step     time.Duration // what period means
	year     bool          // over the whole load: the target applies
}

// periods is how many periods the window holds, the last maybe partial.
func (q *aggrQuery) periods() int {
	return int((q.to.Sub(q.from) + q.step - 1) / q.step)
}

// path is the request.
func (q *aggrQuery) path(id string) string {
	v := url.Values{"attrs": {"pm25"}, "timerel": {"between"}, "timeAt": {q.from.Format(time.RFC3339)},
		"endTimeAt": {q.to.Format(time.RFC3339)}, "aggrMethods": {aggrMethods}, "aggrPeriodDuration": {q.period}}
	return "/ngsi-ld/v1/temporal/entities/" + url.PathEscape(id) + "?" + v.Encode()
}

// check says what is wrong with an answer, if anything: every period
// there with every method, and the counts adding up to one instance a
// minute.
func (q *aggrQuery) check(rep *reply) string {
	if rep.Status != http.StatusOK {
		return statusKind(rep)
	}
	var ans struct {
		PM25 map[string]json.RawMessage `json:"pm25"`
	}
	if err := json.Unmarshal(rep.Body, &ans); err != nil || ans.PM25 == nil {
		return fmt.Sprintf("200 without pm25 aggregates: %.200s", rep.Body)
	}
	for _, m := range []string{"avg", "min", "max", "totalCount"} {
		var list [][]any
		if err := json.Unmarshal(ans.PM25[m], &list); err != nil {
			return fmt.Sprintf("%s: not a list of [value, startAt, endAt]", m)
		}
		if len(list) != q.periods() {
			return fmt.Sprintf("%s: %d periods, want %d", m, len(list), q.periods())
		}
		if m != "totalCount" {
			continue
		}
		var n int64
		for _, p := range list {
			if len(p) == 3 {
				f, _ := p[0].(float64)
				n += int64(f)
			}
		}
		if want := int64(q.to.Sub(q.from) / time.Minute); n != want {
			return fmt.Sprintf("totalCount adds up to %d, want %d", n, want)
		}
	}
	return ""
}

// temporal loads a year (-days) of one-minute pm25 readings of one
// station through the bulk path, a day per line, and times aggregations
// over the whole of it and over a month, one request at a time.
func (r *runner) temporal(ctx context.Context) (err error) {
	o := r.o
	r.header("temporal: GET /ngsi-ld/v1/temporal/entities/{id}?timerel=between&aggrMethods=" + aggrMethods)
	s, err := r.newSession(ctx, "temporal")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	if err := s.start(ctx, 1); err != nil {
		return err
	}

	st := &stream{stations: 1, attrs: []string{"pm25"}, start: temporalStart, tag: "year-", perLine: 1440}
	total := int64(o.days) * 1440
	per := minutesPerRequest(st, o.request)
	r.progress("temporal: loading %s observations", thousands(total))
	t0 := time.Now()
	var body []byte
	for m := int64(0); m < total; m += per {
		m1 := min(m+per, total)
		body = st.appendMinutes(body[:0], m, m1)
		if out := postObservations(ctx, s.api, body, m1-m); out.Err != "" {
			return fmt.Errorf("loading the year: %s", out.Err)
		}
	}
	took := time.Since(t0)
	id := string(appendID(nil, st.tag, 0))
	r.printf("  setup       %s one-minute pm25 readings of %s (%s to %s) loaded through %s, temporal representation, 1,440 per line, in %.1f s (not measured)\n",
		thousands(total), id, st.at(0).Format(time.DateOnly), st.at(total).Format(time.DateOnly), bulkPath, took.Seconds())

	span := "year"
	if o.days != 365 {
		span = fmt.Sprintf("%d-day span", o.days)
	}
	end := st.at(total)
	month := temporalStart.AddDate(0, 1, 0)
	if month.After(end) {
		month = end
	}
	queries := []aggrQuery{
		{span + ", P1D", temporalStart, end, "P1D", 24 * time.Hour, true},
		{span + ", PT1H", temporalStart, end, "PT1H", time.Hour, true},
		{span + ", P7D", temporalStart, end, "P7D", 7 * 24 * time.Hour, true},
		{"month, PT1M", temporalStart, month, "PT1M", time.Minute, false},
	}
	r.printf("  load        one client; each query answered once (checked, not timed), then timed %d times in a row\n", o.repeat)
	r.printf("  %-18s %8s %5s %11s %11s %11s %10s\n", "window, period", "periods", "n", "p50", "p95", "max", "answer")
	worst, worstLabel := time.Duration(0), ""
	s.startCPU()
	for i := range queries {
		q := &queries[i]
		path := q.path(id)
		rep, err := s.api.Do(ctx, http.MethodGet, path, "", nil)
		if err != nil {
			return fmt.Errorf("%s: %w", q.label, err)
		}
		if kind := q.check(rep); kind != "" {
			return fmt.Errorf("%s: %s", q.label, kind)
		}
		size := len(rep.Body)
		lat := make([]time.Duration, 0, o.repeat)
		for range o.repeat {
			t := time.Now()
			rep, err := s.api.Do(ctx, http.MethodGet, path, "", nil)
			if err != nil {
				return fmt.Errorf("%s: %w", q.label, err)
			}
			lat = append(lat, time.Since(t))
			if rep.Status != http.StatusOK || len(rep.Body) != size {
				return fmt.Errorf("%s: the answer changed: %s, %d bytes", q.label, statusKind(rep), len(rep.Body))
			}
		}
		slices.Sort(lat)
		r.printf("  %-18s %8s %5d %11s %11s %11s %10s\n", q.label, thousands(int64(q.periods())), len(lat),
			ms(loadtool.Quantile(lat, 500)), ms(loadtool.Quantile(lat, 950)), ms(loadtool.Quantile(lat, 1000)), bytesText(uint64(size)))
		if p := loadtool.Quantile(lat, 950); q.year && p >= worst {
			worst, worstLabel = p, q.label
		}
	}
	r.printf("  cpu         %s\n", s.cpu.String())
	r.target("temporal", fmt.Sprintf("< %s for an aggregation over the %s (p95 of P1D, PT1H and P7D)", ms(targetTemporalP95), span),
		"worst p95 "+ms(worst)+" ("+worstLabel+")", worst < targetTemporalP95)
	return nil
}
