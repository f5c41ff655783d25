package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// requestTimeout bounds one request. It is long because a bulk request of
// 200,000 lines into a large history may take many seconds; a stuck server
// still shows up as "timeout" errors instead of hanging the run.
const requestTimeout = 5 * time.Minute

// queryTimeout bounds one query: far beyond any target, short enough that
// a run ends soon after its duration.
const queryTimeout = time.Minute

// api is a client of one cityops server with one API key, sending the
// scenario's NGSILD-Tenant (none for the default tenant) with every
// request.
type api = loadtool.Client

// newAPI returns a client for base with one kept-alive connection per
// worker (see loadtool.Guard.NewClient). A request taking longer than
// timeout fails as a "timeout".
func newAPI(base, key, tenant string, workers int, timeout time.Duration) (*api, error) {
	c, err := guard.NewClient(base, key, workers, timeout)
	if err != nil {
		return nil, err
	}
	if tenant != "" {
		c.Header = http.Header{"Ngsild-Tenant": {tenant}}
	}
	return c, nil
}

// reply is what a request got back.
type reply = loadtool.Reply

// Shorter names for the shared helpers.
var (
	errorKind  = loadtool.ErrorKind
	statusKind = loadtool.StatusKind
	thousands  = loadtool.Thousands
	rate       = loadtool.Rate
	bytesText  = loadtool.Bytes
)

// ms formats a latency in milliseconds, one unit for every figure.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// outcome is what one request of a closed loop achieved.
type outcome struct {
	Key    int    // the series its latency belongs to (a query shape); 0 otherwise
	Units  int64  // what it did: entity updates, observations stored
	Failed int64  // units refused within an answered request (an entity of a batch)
	Err    string // failure kind, for the request or for its refused units; empty if all went well
}

// tally is what a closed loop measured.
type tally struct {
	Requests int64                   // requests finished (started before the end)
	Good     int64                   // requests that did at least some of their units
	Units    int64                   // units done
	Failed   int64                   // units refused inside answered requests
	Errors   map[string]int64        // requests by failure kind
	Lat      map[int][]time.Duration // of the requests that did units, sorted
	ErrLat   map[int][]time.Duration // of the others: how long they took to fail, sorted
	Elapsed  time.Duration           // from the start to the last completion, at least the duration
}

// Rate is units per second of the measured time.
func (t *tally) Rate() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Units) / t.Elapsed.Seconds()
}

// closedLoop runs fn on workers goroutines, each with one request in
// flight, for d; requests started before the end finish and count, and
// the elapsed time stretches to the last of them. progress, if not nil, is
// told the units done every few seconds. Cancelling ctx ends the loop
// early; the partial tally is returned with the error.
func closedLoop(ctx context.Context, workers int, d time.Duration, progress func(elapsed time.Duration, units int64),
	fn func(ctx context.Context, worker int) outcome) (*tally, error) {
	start := time.Now()
	end := start.Add(d)
	var units atomic.Int64
	stopProgress := make(chan struct{})
	var pwg sync.WaitGroup
	if progress != nil {
		pwg.Go(func() {
			t := time.NewTicker(progressEvery)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					progress(time.Since(start), units.Load())
				}
			}
		})
	}
	parts := make([]*tally, workers)
	lasts := make([]time.Time, workers)
	var wg sync.WaitGroup
	for i := range workers {
		p := &tally{Errors: map[string]int64{}, Lat: map[int][]time.Duration{}, ErrLat: map[int][]time.Duration{}}
		parts[i] = p
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				o := fn(ctx, i)
				t1 := time.Now()
				if ctx.Err() != nil {
					return // cut short, not a measurement
				}
				p.Requests++
				lasts[i] = t1
				if o.Err != "" {
					loadtool.CountError(p.Errors, o.Err)
				}
				p.Failed += o.Failed
				if o.Units == 0 {
					p.ErrLat[o.Key] = append(p.ErrLat[o.Key], t1.Sub(t0))
					continue
				}
				p.Good++
				p.Units += o.Units
				units.Add(o.Units)
				p.Lat[o.Key] = append(p.Lat[o.Key], t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	pwg.Wait()
	t := &tally{Errors: map[string]int64{}, Lat: map[int][]time.Duration{}, ErrLat: map[int][]time.Duration{}, Elapsed: d}
	for i, p := range parts {
		t.Requests += p.Requests
		t.Good += p.Good
		t.Units += p.Units
		t.Failed += p.Failed
		for k, v := range p.Errors {
			t.Errors[k] += v
		}
		for k, v := range p.Lat {
			t.Lat[k] = append(t.Lat[k], v...)
		}
		for k, v := range p.ErrLat {
			t.ErrLat[k] = append(t.ErrLat[k], v...)
		}
		if el := lasts[i].Sub(start); el > t.Elapsed {
			t.Elapsed = el
		}
	}
	for _, m := range []map[int][]time.Duration{t.Lat, t.ErrLat} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	if err := ctx.Err(); err != nil {
		t.Elapsed = time.Since(start)
		return t, err
	}
	return t, nil
}

// progressEvery is how often a long phase prints a progress line.
const progressEvery = 5 * time.Second

// errorsText lists error kinds, the most frequent first.
func errorsText(m map[string]int64) string { return loadtool.ErrorsText(m, 0, "; ") }
