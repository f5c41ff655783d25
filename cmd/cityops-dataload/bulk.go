package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// bulkPath is the bulk observation path.
const bulkPath = "/api/v1/observations"

// ingestAnswer is the bulk path's answer.
type ingestAnswer struct {
	Accepted int `json:"accepted"`
	Lines    int `json:"lines"`
	Rejected []struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	} `json:"rejected"`
}

// postObservations sends one NDJSON body holding want observations; the
// outcome's units are those the server says it stored.
func postObservations(ctx context.Context, a *api, body []byte, want int64) outcome {
	rep, err := a.Do(ctx, http.MethodPost, bulkPath, "application/x-ndjson", body)
	if err != nil {
		return outcome{Err: errorKind(err)}
	}
	var ans ingestAnswer
	if rep.Status != http.StatusOK && rep.Status != http.StatusMultiStatus && rep.Status != http.StatusBadRequest ||
		json.Unmarshal(rep.Body, &ans) != nil || ans.Lines == 0 {
		return outcome{Err: statusKind(rep)}
	}
	out := outcome{Units: int64(ans.Accepted)}
	if out.Units < want {
		out.Failed = want - out.Units
		out.Err = fmt.Sprintf("HTTP %d: observations refused", rep.Status)
		if len(ans.Rejected) > 0 {
			out.Err += ", the first: " + ans.Rejected[0].Error
		}
	}
	return out
}

// minutesPerRequest is how many of a stream's minutes make a request of
// about request observations; in temporal representation, a whole number
// of lines.
func minutesPerRequest(st *stream, request int) int64 {
	m := max(1, int64(request)/st.perMinute())
	if p := int64(st.perLine); p > 0 && m > p {
		m -= m % p
	}
	return m
}

// formatText describes how lines carry a stream.
func formatText(st *stream) string {
	if st.perLine > 0 {
		return fmt.Sprintf("temporal representation, one line per station and attribute with up to %d instances", st.perLine)
	}
	return "one reading per line (the server groups lines by entity)"
}

// bulkStream is the bulk and history scenarios' data.
func (r *runner) bulkStream(tag string) *stream {
	st := &stream{stations: r.o.stations, attrs: readingAttrs, start: dataStart, tag: tag}
	if st.stations == 0 {
		st.stations = 1000
	}
	if r.o.format == "temporal" {
		st.perLine = r.o.perLine
	}
	return st
}

// storedCount asks the server how many instances of attr entity id has
// in [from, to), through a totalCount aggregation.
func (s *session) storedCount(ctx context.Context, id, attr string, from, to time.Time) (int64, error) {
	q := url.Values{"attrs": {attr}, "timerel": {"between"}, "timeAt": {from.Format(time.RFC3339)},
		"endTimeAt": {to.Format(time.RFC3339)}, "aggrMethods": {"totalCount"}}
	rep, err := s.api.Do(ctx, http.MethodGet, "/ngsi-ld/v1/temporal/entities/"+url.PathEscape(id)+"?"+q.Encode(), "", nil)
	if err != nil {
		return 0, err
	}
	if rep.Status != http.StatusOK {
		return 0, errors.New(statusKind(rep))
	}
	var ans map[string]json.RawMessage
	if err := json.Unmarshal(rep.Body, &ans); err != nil {
		return 0, err
	}
	var a struct {
		TotalCount [][]any `json:"totalCount"`
	}
	if raw, ok := ans[attr]; ok {
		if err := json.Unmarshal(raw, &a); err != nil {
			return 0, err
		}
	}
	var n int64
	for _, p := range a.TotalCount {
		if len(p) > 0 {
			f, _ := p[0].(float64)
			n += int64(f)
		}
	}
	return n, nil
}

// bulk measures POST /api/v1/observations: clients stream NDJSON requests
// of whole minutes of every station's readings. A plain batched INSERT of
// the same rows into the same database, while the server is idle, is the
// baseline.
func (r *runner) bulk(ctx context.Context) (err error) {
	o := r.o
	clients := o.clientsFor("bulk")
	st := r.bulkStream("hue-")
	minutes := minutesPerRequest(st, o.request)
	r.header("bulk: POST " + bulkPath + " (application/x-ndjson)")
	r.printf("  data        %s stations × %v, a reading a minute each; %s\n", thousands(int64(st.stations)), st.attrs, formatText(st))
	s, err := r.newSession(ctx, "bulk")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	if err := s.start(ctx, clients); err != nil {
		return err
	}
	// Setup, not measured: minute 0 creates the stations.
	var next atomic.Int64
	next.Store(1)
	if out := postObservations(ctx, s.api, st.appendMinutes(nil, 0, 1), st.perMinute()); out.Err != "" {
		return fmt.Errorf("creating the stations: %s", out.Err)
	}

	// The baseline runs half before and half after the cityops load, with
	// the server idle, so that a drift in what else the machine does, and
	// the disk's aftermath of each, fall on both alike.
	base, err := r.openBaseline(ctx, s, st)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer func() {
		if cerr := base.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("baseline: %w", cerr))
		}
	}()
	r.printf("  baseline    plain INSERT of the same rows (entity key, attr, observed_at, num, value JSON; index on entity key, attr, observed_at)\n")
	r.printf("              into %s in the same database, while cityops is idle: %s before and %s after the cityops load;\n",
		baselineTable, o.duration/2, o.duration-o.duration/2)
	r.printf("              %s rows per transaction (the bulk path's batch), %d per statement, %d connection(s)\n",
		thousands(base.txMinutes()*st.perMinute()), baselineStmtRows, base.workers)
	r.progress("bulk: baseline for %s", o.duration/2)
	if err := base.run(ctx, o.duration/2); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	r.printf("  load        %d clients, closed loop, requests of %s observations (%d minutes), %s\n",
		clients, thousands(minutes*st.perMinute()), minutes, o.duration)
	r.progress("bulk: measuring for %s", o.duration)
	bufs := make([][]byte, clients)
	s.startCPU()
	t, lerr := closedLoop(ctx, clients, o.duration, func(el time.Duration, n int64) {
		r.progress("bulk: %.0f s, %s observations (%s/s)", el.Seconds(), thousands(n), rate(float64(n)/el.Seconds()))
	}, func(ctx context.Context, w int) outcome {
		m0 := next.Add(minutes) - minutes
		bufs[w] = st.appendMinutes(bufs[w][:0], m0, m0+minutes)
		return postObservations(ctx, s.api, bufs[w], minutes*st.perMinute())
	})
	cpu := s.cpu.String()
	lat := t.Lat[0]
	r.printf("  requests    %s sent, %s stored (in whole or part) in %.2f s\n", thousands(t.Requests), thousands(t.Good), t.Elapsed.Seconds())
	r.printf("  errors      %s; observations refused in answered requests: %s\n", errorsText(t.Errors), thousands(t.Failed))
	r.printf("  stored      %s observations = %s observations/s\n", thousands(t.Units), rate(t.Rate()))
	r.printf("  latency     request p50 %s, max %s\n", ms(loadtool.Quantile(lat, 500)), ms(loadtool.Quantile(lat, 1000)))
	r.printf("  cpu         %s\n", cpu)
	if lerr != nil {
		return lerr
	}
	if t.Units == 0 {
		return errors.New("no observation was stored")
	}
	r.progress("bulk: baseline for %s", o.duration-o.duration/2)
	if err := base.run(ctx, o.duration-o.duration/2); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	r.printf("  baseline    %s rows in %.2f s = %s rows/s\n", thousands(base.Rows), base.Elapsed.Seconds(), rate(base.Rate()))
	if len(t.Errors) == 0 {
		// Every minute sent was stored: one station's count says so.
		sent := next.Load()
		got, err := s.storedCount(ctx, string(appendID(nil, st.tag, 0)), st.attrs[0], st.at(0), st.at(sent))
		if err != nil {
			return fmt.Errorf("counting what was stored: %w", err)
		}
		if got != sent {
			return fmt.Errorf("station 0 has %d %s instances stored, %d were sent and reported stored", got, st.attrs[0], sent)
		}
		r.printf("  check       station 0: %s %s instances stored, as sent\n", thousands(got), st.attrs[0])
	}
	ratio := 0.0
	if base.Rate() > 0 {
		ratio = t.Rate() / base.Rate()
	}
	r.printf("  ratio       cityops/baseline = %s/%s = %.2f\n", rate(t.Rate()), rate(base.Rate()), ratio)
	r.target("bulk", fmt.Sprintf("≥ %s observations/s into SQLite", rate(targetBulkRate)), rate(t.Rate())+" observations/s", t.Rate() >= targetBulkRate)
	r.target("bulk", fmt.Sprintf("≥ %.0f%% of the plain INSERT baseline", 100*targetBulkBaseline),
		fmt.Sprintf("%.0f%% (%s of %s rows/s)", 100*ratio, rate(t.Rate()), rate(base.Rate())), ratio >= targetBulkBaseline)
	return nil
}
