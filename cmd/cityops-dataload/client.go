package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// maxResponse caps how much of a response is kept: a month of one-minute
// aggregates is about 12 MB of JSON.
const maxResponse = 256 << 20

// maxErrorKinds caps the distinct error kinds a worker keeps.
const maxErrorKinds = 32

// api sends requests to one cityops server with one API key.
type api struct {
	base   string // http://127.0.0.1:PORT, checked to be on a loopback address
	key    string
	tenant string // NGSILD-Tenant; empty for the default tenant
	client *http.Client
}

// newAPI returns a client for base with one kept-alive connection per
// worker, no proxy, no redirects, no compression, and a dialer that
// connects only to loopback addresses. A request taking longer than
// timeout fails as a "timeout".
func newAPI(base, key, tenant string, workers int, timeout time.Duration) (*api, error) {
	if err := guard.CheckTargetURL(base); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         guard.Dialer().DialContext,
		MaxIdleConns:        workers + 2,
		MaxIdleConnsPerHost: workers + 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &api{base: strings.TrimSuffix(base, "/"), key: key, tenant: tenant, client: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// reply is what a request got back.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends one request; body may be nil. The error is a transport error;
// any HTTP status is a reply.
func (a *api) do(ctx context.Context, method, path, contentType string, body []byte) (*reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.tenant != "" {
		req.Header.Set("NGSILD-Tenant", a.tenant)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	return &reply{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// close drops the kept-alive connections.
func (a *api) close() { a.client.CloseIdleConnections() }

// statusKind names a failed reply by its status and the start of its
// body, so that failures of one kind are counted together.
func statusKind(r *reply) string {
	s := fmt.Sprintf("HTTP %d", r.Status)
	if b := strings.TrimSpace(string(r.Body)); b != "" {
		if len(b) > 80 {
			b = b[:80] + "…"
		}
		s += ": " + b
	}
	return s
}

// errorKind names a transport error by its cause, without addresses or
// ports, so that errors of one kind are counted together.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, loadtool.ErrNotLoopback):
		return "refused: not a loopback address"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by server"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return "other: " + s
}

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
					k := o.Err
					if _, ok := p.Errors[k]; !ok && len(p.Errors) >= maxErrorKinds {
						k = "other (too many kinds)"
					}
					p.Errors[k]++
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
func errorsText(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(m))
	var total int64
	for k, v := range m {
		kinds = append(kinds, k)
		total += v
	}
	sort.Slice(kinds, func(i, j int) bool {
		if m[kinds[i]] != m[kinds[j]] {
			return m[kinds[i]] > m[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, "; "))
}

// thousands formats n with commas, as the benchmarks page does.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// rate formats a per-second figure without decimals, with commas.
func rate(f float64) string { return thousands(int64(f + 0.5)) }

// bytesText formats a size in binary units.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
