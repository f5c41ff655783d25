package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// requestTimeout bounds one request, so that a stuck server shows up as
// "timeout" errors instead of hanging the run.
const requestTimeout = 10 * time.Second

// maxResponse caps how much of a response is kept, so that a misbehaving
// server cannot make the client use unbounded memory.
const maxResponse = 1 << 20

// lateAfter is how far behind its schedule an open-loop request may start
// before it counts as late: beyond timer slack, so that "late" means the
// workers could not keep up.
const lateAfter = 5 * time.Millisecond

// Huế's centre: every point in this box lies inside a demo ward, so every
// report is routed like a real one.
const (
	latMin, latMax = 16.44, 16.50
	lonMin, lonMax = 107.55, 107.62
)

// serviceCode is a demo category with a routing rule (to HEPCO).
const serviceCode = "environment.waste"

// descriptionPrefix is the form-encoded start of every description; the
// report's number follows, so each report is distinct.
var descriptionPrefix = url.QueryEscape("Rác chưa thu gom #")

// checker decides whether a response counts as accepted and returns the
// report id it carries; a non-empty kind names the failure. The baseline
// and cityops differ only in this, so they are loaded by the same code.
type checker func(status int, body []byte) (id, kind string)

// checkCreated accepts what Open311 promises for a new report: 201 and a
// JSON array whose one element holds the service_request_id.
func checkCreated(status int, body []byte) (string, string) {
	if status != http.StatusCreated {
		return "", "HTTP " + strconv.Itoa(status)
	}
	var out []struct {
		ID string `json:"service_request_id"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out) != 1 || out[0].ID == "" {
		return "", "201 without service_request_id"
	}
	return out[0].ID, ""
}

// checkOK accepts the hello-world baseline's answer.
func checkOK(status int, body []byte) (string, string) {
	if status != http.StatusOK {
		return "", "HTTP " + strconv.Itoa(status)
	}
	if string(body) != "ok" {
		return "", "200 without \"ok\""
	}
	return "", ""
}

// loadSpec is one load run against one target.
type loadSpec struct {
	URL         string        // where to POST; must be on a loopback address
	APIKey      string        // sent as the api_key form field
	Check       checker       // what counts as accepted
	Concurrency int           // workers, each with at most one request in flight
	Rate        float64       // open-loop requests/s; 0 for closed loop
	Warmup      time.Duration // load before measuring, not counted
	Duration    time.Duration // how long to measure
	OnMeasure   func()        // called once when measuring starts (CPU sampling)
}

// result is what one load run measured. Latencies are those of accepted
// requests, in microseconds; failures are counted by kind, not timed.
type result struct {
	Sent, Accepted int64            // requests started in the measured window, and those accepted
	Errors         map[string]int64 // failed measured requests by kind; Sent = Accepted + Σ Errors
	Elapsed        time.Duration    // from the start of measuring to the last measured completion
	Latency        []uint32         // µs, sorted; open loop measures from the scheduled time
	PerSecond      []int64          // accepted per whole second of the window, by completion time
	WarmupSent     int64            // requests started during the warm-up
	WarmupAccepted int64
	Late           int64  // open loop: measured requests started more than lateAfter after their scheduled time
	IDs            idList // every accepted report id, warm-up included: all must be durable
}

// Throughput is accepted requests per second of the measured window.
func (r *result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// idList stores report ids in one byte slice with end offsets, so 120,000
// ids cost about 1.5 MB instead of 120,000 string headers and allocations.
type idList struct {
	buf []byte
	end []uint32
}

// add appends one id.
func (l *idList) add(id string) {
	l.buf = append(l.buf, id...)
	l.end = append(l.end, uint32(len(l.buf)))
}

// Len is the number of ids.
func (l *idList) Len() int { return len(l.end) }

// At returns the i-th id.
func (l *idList) At(i int) string {
	start := uint32(0)
	if i > 0 {
		start = l.end[i-1]
	}
	return string(l.buf[start:l.end[i]])
}

// addAll appends every id of o.
func (l *idList) addAll(o *idList) {
	for i := range o.Len() {
		l.add(o.At(i))
	}
}

// newClient returns an HTTP client for one run: one kept-alive connection
// per worker, no proxy, no redirects, no compression, and a dialer that
// connects only to loopback addresses.
func newClient(concurrency int) *http.Client { return guard.HTTPClient(concurrency, requestTimeout) }

// runLoad loads one target and returns what it measured. It refuses a
// target that is not on a loopback address before sending anything.
// Cancelling ctx stops the run early; the partial result is returned.
func runLoad(ctx context.Context, s loadSpec) (*result, error) {
	if err := guard.CheckTargetURL(s.URL); err != nil {
		return nil, err
	}
	switch {
	case s.Concurrency < 1:
		return nil, errors.New("concurrency must be at least 1")
	case s.Duration <= 0 || s.Warmup < 0:
		return nil, errors.New("duration must be positive and warm-up not negative")
	case s.Rate < 0:
		return nil, errors.New("rate must not be negative")
	case s.Check == nil:
		return nil, errors.New("no checker")
	}
	client := newClient(s.Concurrency)
	defer client.CloseIdleConnections()

	start := time.Now()
	measure := start.Add(s.Warmup)
	end := measure.Add(s.Duration)
	if s.OnMeasure != nil {
		t := time.AfterFunc(s.Warmup, s.OnMeasure)
		defer t.Stop()
	}
	var interval float64 // ns between scheduled starts; 0 for closed loop
	if s.Rate > 0 {
		interval = 1e9 / s.Rate
	}
	sh := &shared{spec: &s, client: client, keyEsc: url.QueryEscape(s.APIKey),
		start: start, measure: measure, end: end, interval: interval}
	workers := make([]*worker, s.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{shared: sh, done: make(chan struct{}, 1), errs: map[string]int64{},
			perSec: make([]int64, int(s.Duration/time.Second))}
		workers[i] = w
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()

	r := &result{Errors: map[string]int64{}, PerSecond: make([]int64, int(s.Duration/time.Second))}
	var last time.Time
	for _, w := range workers {
		r.Sent += w.sent
		r.Accepted += w.accepted
		r.WarmupSent += w.warmSent
		r.WarmupAccepted += w.warmAccepted
		r.Late += w.late
		for k, v := range w.errs {
			r.Errors[k] += v
		}
		for i, v := range w.perSec {
			r.PerSecond[i] += v
		}
		r.Latency = append(r.Latency, w.lat...)
		r.IDs.addAll(&w.ids)
		if w.last.After(last) {
			last = w.last
		}
	}
	slices.Sort(r.Latency)
	r.Elapsed = s.Duration
	if last.After(measure) && last.Sub(measure) > r.Elapsed {
		r.Elapsed = last.Sub(measure) // the last responses came after the window closed
	}
	if err := ctx.Err(); err != nil {
		r.Elapsed = max(time.Since(measure), time.Millisecond)
		return r, err
	}
	return r, nil
}

// shared is what all workers of one run read and never write, except the
// sequence counter.
type shared struct {
	spec                *loadSpec
	client              *http.Client
	keyEsc              string
	start, measure, end time.Time
	interval            float64       // open loop: ns between scheduled starts
	seq                 atomic.Uint64 // next report number / schedule slot
}

// worker is one closed-loop client (or one open-loop sender). It keeps its
// own counters so the hot path takes no locks; runLoad merges them.
type worker struct {
	*shared
	buf     []byte        // the form body, reused once the transport has closed it
	done    chan struct{} // receives when the transport closes the body
	pending bool          // the last body has not been closed yet
	resp    bytes.Buffer  // the response body, reused

	sent, accepted, warmSent, warmAccepted, late int64
	errs                                         map[string]int64
	lat                                          []uint32
	perSec                                       []int64
	ids                                          idList
	last                                         time.Time
}

// run sends requests until the window closes or ctx is cancelled.
func (w *worker) run(ctx context.Context) {
	var timer *time.Timer
	for ctx.Err() == nil {
		var sched time.Time
		var n uint64
		if w.interval > 0 {
			// Open loop: slot i starts at start + i·interval whether or not
			// earlier requests have finished, and its latency counts from
			// then, so a slow server cannot hide its queue (no coordinated
			// omission). This is a ticker that never drops a tick.
			n = w.seq.Add(1) - 1
			sched = w.start.Add(time.Duration(float64(n) * w.interval))
			if !sched.Before(w.end) {
				return
			}
			if d := time.Until(sched); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-ctx.Done():
					timer.Stop()
					return
				case <-timer.C:
				}
			}
		} else {
			n = w.seq.Add(1)
			sched = time.Now()
			if !sched.Before(w.end) {
				return
			}
		}
		sent := time.Now()
		id, kind := w.do(ctx, n)
		done := time.Now()
		if kind == "" && id != "" {
			w.ids.add(id)
		}
		if sched.Before(w.measure) {
			w.warmSent++
			if kind == "" {
				w.warmAccepted++
			}
			continue
		}
		w.sent++
		if w.interval > 0 && sent.Sub(sched) > lateAfter {
			w.late++
		}
		if done.After(w.last) {
			w.last = done
		}
		if kind != "" {
			loadtool.CountError(w.errs, kind)
			continue
		}
		w.accepted++
		w.lat = append(w.lat, loadtool.Micros(done.Sub(sched)))
		if sec := int(done.Sub(w.measure) / time.Second); sec < len(w.perSec) {
			w.perSec[sec]++
		}
	}
}

// do sends report n and returns its id, or the kind of failure.
func (w *worker) do(ctx context.Context, n uint64) (string, string) {
	w.waitBody()
	w.buf = appendForm(w.buf[:0], w.keyEsc, n, latMin+rand.Float64()*(latMax-latMin), lonMin+rand.Float64()*(lonMax-lonMin))
	b := &formBody{done: w.done}
	b.r.Reset(w.buf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.spec.URL, b)
	if err != nil {
		return "", "bad request: " + err.Error()
	}
	req.ContentLength = int64(len(w.buf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w.pending = true
	res, err := w.client.Do(req)
	if err != nil {
		return "", errorKind(err)
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(io.LimitReader(res.Body, maxResponse))
	res.Body.Close()
	if err != nil {
		return "", "reading response: " + errorKind(err)
	}
	return w.spec.Check(res.StatusCode, w.resp.Bytes())
}

// waitBody waits until the transport has closed the previous body, which
// it may do after Do returns; only then may the buffer be rewritten. The
// transport always closes it; should it ever not, the buffer is abandoned
// rather than the run hung.
func (w *worker) waitBody() {
	if !w.pending {
		return
	}
	w.pending = false
	select {
	case <-w.done:
		return
	default:
	}
	select {
	case <-w.done:
	case <-time.After(time.Second):
		w.buf, w.done = nil, make(chan struct{}, 1)
	}
}

// formBody is one request's view of a worker's reusable buffer; Close
// tells the worker the transport is finished with it.
type formBody struct {
	r      bytes.Reader
	closed atomic.Bool
	done   chan struct{}
}

// Read reads the form.
func (b *formBody) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close signals the worker once, however often it is called.
func (b *formBody) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		b.done <- struct{}{}
	}
	return nil
}

// appendForm appends the Open311 form for report n at (lat, lon): the
// same fields in the same order for every target.
func appendForm(b []byte, keyEsc string, n uint64, lat, lon float64) []byte {
	b = append(b, "api_key="...)
	b = append(b, keyEsc...)
	b = append(b, "&service_code="+serviceCode+"&lat="...)
	b = strconv.AppendFloat(b, lat, 'f', 6, 64)
	b = append(b, "&long="...)
	b = strconv.AppendFloat(b, lon, 'f', 6, 64)
	b = append(b, "&description="...)
	b = append(b, descriptionPrefix...)
	return strconv.AppendUint(b, n, 10)
}

// errorKind names a transport error by its cause, without addresses or
// ports, so that errors of one kind are counted together; a load of many
// fresh connections also meets broken pipes and a lack of local ports.
var errorKind = loadtool.ErrorNaming{Sockets: true, Innermost: true}.Kind
