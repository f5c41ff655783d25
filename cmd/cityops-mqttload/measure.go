package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage"
)

const (
	// lateAfter is how far behind its schedule a publication may start
	// before it counts as late: the publishers could not keep up.
	lateAfter = 5 * time.Millisecond
	// pollEvery is how often storage is asked again for a followed
	// message committed but not yet returned, and for the oldest pending.
	pollEvery = 10 * time.Millisecond
	// quietFor ends the wait for the last messages when nothing more
	// arrives: an external broker may have dropped some.
	quietFor = 5 * time.Second
	// ackTimeout bounds the wait for one PUBACK.
	ackTimeout = 30 * time.Second
	// layoutMicro is RFC 3339 with microseconds, the databases' precision.
	layoutMicro = "2006-01-02T15:04:05.000000Z07:00"
)

// result is what one measured run saw.
type result struct {
	Published, WarmupPublished int64            // publications scheduled in the window, and in the warm-up
	PublishErrors              map[string]int64 // failed publications (no PUBACK) by kind
	Late                       int64            // measured publications that started over lateAfter behind schedule
	Accepted, Rejected         int64            // by the ingest, from the start of the window until all was processed
	Dropped, Lost              int64            // dropped by the ingest; acknowledged but never seen by it
	Elapsed                    time.Duration    // from the start of the window until the last message was processed
	Drain                      time.Duration    // of which after publishing stopped
	PerSecond                  []int64          // accepted per whole second of the window
	MaxQueue                   int              // deepest queue seen (sampled every 100 ms)
	Latency                    []uint32         // µs, sorted, of the followed messages
	Unseen                     int              // followed messages never seen
	CPU                        float64          // cores used by this process over Elapsed
}

// Throughput is accepted messages per second.
func (r *result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

func (r *result) quantile(q int) time.Duration {
	return time.Duration(loadtool.Quantile(r.Latency, q)) * time.Microsecond
}

func (r *result) print(w io.Writer, what string) {
	var errs int64
	for _, n := range r.PublishErrors {
		errs += n
	}
	window := r.Elapsed - r.Drain
	fmt.Fprintf(w, "  published   %d in %.2fs (%.0f/s; warm-up, not counted: %d); %d without PUBACK %v; %d late (> %s behind schedule)\n",
		r.Published, window.Seconds(), float64(r.Published)/window.Seconds(), r.WarmupPublished, errs, r.PublishErrors, r.Late, lateAfter)
	fmt.Fprintf(w, "  accepted    %d; rejected %d; dropped %d; lost between broker and ingest %d (counted from the window's start until all was processed: a warm-up backlog counts too)\n",
		r.Accepted, r.Rejected, r.Dropped, r.Lost)
	fmt.Fprintf(w, "  throughput  %.0f accepted/s over %.2fs (%.2fs of it draining the queue after publishing stopped)", r.Throughput(), r.Elapsed.Seconds(), r.Drain.Seconds())
	if len(r.PerSecond) > 0 {
		ps := slices.Clone(r.PerSecond)
		slices.Sort(ps)
		fmt.Fprintf(w, "; per whole second: min %d, median %d, max %d", ps[0], ps[len(ps)/2], ps[len(ps)-1])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  queue       deepest %d\n", r.MaxQueue)
	l := r.Latency
	fmt.Fprintf(w, "  latency     publish→%s p50 %s  p90 %s  p99 %s  max %s  (%d followed; %d never seen)\n",
		what, ms(loadtool.Quantile(l, 500)), ms(loadtool.Quantile(l, 900)), ms(loadtool.Quantile(l, 990)), ms(loadtool.Quantile(l, 1000)), len(l), r.Unseen)
	fmt.Fprintf(w, "  cpu         %.2f cores for this whole process (publishers, broker, ingestion, database client)\n", r.CPU)
}

// measure runs one load: store says whether the ingest writes to the
// database or discards (the baseline).
func (e *env) measure(ctx context.Context, o options, store bool, progress func(string, ...any)) (*result, error) {
	s := &sampler{pending: map[float64]sample{}, check: make(chan sample, 4096)}
	var svc cityops.DeviceService = e.db
	if !store {
		svc = &discard{seen: s.arrived}
	}
	in, url, stop, err := e.ingest(ctx, svc)
	if err != nil {
		return nil, err
	}
	defer stop()
	clients, err := e.connect(url, o.publishers)
	for _, c := range clients {
		defer c.Disconnect(250)
	}
	if err != nil {
		return nil, err
	}
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	if store {
		e.following.Store(s)
		defer e.following.Store(nil)
		go s.confirm(pollCtx, e.db)
	}

	start := time.Now().Add(100 * time.Millisecond)
	measureAt := start.Add(o.warmup)
	end := measureAt.Add(o.duration)
	topics := make([]string, o.devices)
	entities := e.entities
	for i := range topics {
		topics[i] = "/" + e.key + "/" + deviceID(i) + "/attrs"
	}
	processed := func() int64 { return in.Accepted.Load() + in.Rejected.Load() + in.Dropped.Load() }

	// The monitor reads the counters at the start of the window, each
	// whole second and every 100 ms for the queue depth.
	r := &result{PublishErrors: map[string]int64{}, PerSecond: make([]int64, 0, int(o.duration/time.Second))}
	var a0, rej0, d0 int64
	var cpu0 float64
	var t0 time.Time
	monDone := make(chan struct{})
	monStop := make(chan struct{})
	var maxQueue atomic.Int64
	go func() {
		defer close(monDone)
		time.Sleep(time.Until(measureAt))
		t0 = time.Now()
		cpu0, _ = loadtool.CPUSeconds("self") // 0 off Linux
		a0, rej0, d0 = in.Accepted.Load(), in.Rejected.Load(), in.Dropped.Load()
		last, next := a0, t0.Add(time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-monStop:
				return
			case now := <-tick.C:
				if q := int64(in.QueueDepth()); q > maxQueue.Load() {
					maxQueue.Store(q)
				}
				if !now.Before(next) && next.Before(end.Add(time.Millisecond)) {
					a := in.Accepted.Load()
					r.PerSecond = append(r.PerSecond, a-last)
					last, next = a, next.Add(time.Second)
				}
			}
		}
	}()

	stats := make([]pubStats, len(clients))
	var wg sync.WaitGroup
	for p, c := range clients {
		st := &stats[p]
		st.errs = map[string]int64{}
		wg.Go(func() {
			publish(ctx, c, p, len(clients), o, topics, entities, start, measureAt, end, s, st)
		})
	}
	wg.Wait()
	t1 := time.Now()
	var acked int64
	for _, st := range stats {
		r.Published += st.sent
		r.WarmupPublished += st.warm
		r.Late += st.late
		acked += st.acked
		for k, v := range st.errs {
			r.PublishErrors[k] += v
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Wait until every acknowledged message is processed, or nothing has
	// moved for quietFor.
	progress("published %d in the window; waiting for the ingest to finish", r.Published)
	t2, seen := time.Now(), processed()
	for seen < acked && time.Since(t2) < quietFor && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		if n := processed(); n != seen {
			t2, seen = time.Now(), n
		}
	}
	close(monStop)
	<-monDone
	if t2.Before(t1) {
		t2 = t1
	}
	r.Elapsed, r.Drain = t2.Sub(t0), t2.Sub(t1)
	cpu1, _ := loadtool.CPUSeconds("self")
	r.CPU = (cpu1 - cpu0) / time.Since(t0).Seconds()
	r.Accepted, r.Rejected, r.Dropped = in.Accepted.Load()-a0, in.Rejected.Load()-rej0, in.Dropped.Load()-d0
	r.Lost = acked - processed()
	r.MaxQueue = int(maxQueue.Load())
	r.Latency, r.Unseen = s.wait(ctx, 10*time.Second)
	return r, nil
}

// connect opens n publishing connections.
func (e *env) connect(url string, n int) ([]paho.Client, error) {
	var out []paho.Client
	for i := range n {
		opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("%s-pub-%d-%d", e.key, i, time.Now().UnixNano())).
			SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetCleanSession(true)
		if e.external == "" {
			opts.SetUsername(e.user).SetPassword(e.pass)
		}
		c := paho.NewClient(opts)
		if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			return out, fmt.Errorf("publisher %d: connect %s: %v", i, loadtool.RedactDSN(url), t.Error())
		}
		out = append(out, c)
	}
	return out, nil
}

// pubStats are one publisher's counters; publish alone writes them.
type pubStats struct {
	sent, warm, late, acked int64
	errs                    map[string]int64
}

// publish sends publisher p's share of the schedule: message seq (p, p+n,
// p+2n, …) is due at start + seq/rate, goes to device seq mod devices and
// carries seq as its pm25 value and its due time as TimeInstant. Up to
// -inflight messages wait for their PUBACK at once.
func publish(ctx context.Context, c paho.Client, p, n int, o options, topics, entities []string,
	start, measureAt, end time.Time, s *sampler, st *pubStats) {
	ring := make([]paho.Token, o.inflight)
	wait := func(t paho.Token) {
		switch {
		case !t.WaitTimeout(ackTimeout):
			st.errs["no PUBACK within "+ackTimeout.String()]++
		case t.Error() != nil:
			st.errs[errorKind(t.Error())]++
		default:
			st.acked++
		}
	}
	for i, seq := 0, p; ctx.Err() == nil; i, seq = i+1, seq+n {
		due := start.Add(time.Duration(float64(seq) * 1e9 / o.rate))
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		dev := seq % len(topics)
		at := due.UTC().Truncate(time.Microsecond)
		if due.Before(measureAt) {
			st.warm++
		} else {
			st.sent++
			if time.Since(due) > lateAfter {
				st.late++
			}
			if seq%o.sampleEvery == 0 {
				s.add(sample{value: float64(seq), entity: entities[dev], at: at, due: due})
			}
		}
		payload := make([]byte, 0, 80) // paho writes it later: one per message
		payload = append(payload, `{"p": `...)
		payload = strconv.AppendInt(payload, int64(seq), 10)
		payload = append(payload, `, "n": 18, "TimeInstant": "`...)
		payload = at.AppendFormat(payload, layoutMicro)
		payload = append(payload, `"}`...)
		slot := i % len(ring)
		if old := ring[slot]; old != nil {
			wait(old)
		}
		ring[slot] = c.Publish(topics[dev], 1, false, payload)
	}
	for _, t := range ring {
		if t != nil {
			wait(t)
		}
	}
}

// sample is one followed message.
type sample struct {
	value   float64   // its pm25, unique in the run
	entity  string    // where it is stored
	at, due time.Time // its TimeInstant, and when it was due to be published
}

// sampler follows messages from publication to storage.
type sampler struct {
	mu      sync.Mutex
	pending map[float64]sample
	lat     []uint32
	check   chan sample // committed, to confirm
}

func (s *sampler) add(x sample) {
	s.mu.Lock()
	s.pending[x.value] = x
	s.mu.Unlock()
}

// done records the latency of a followed message seen at now.
func (s *sampler) done(v float64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.pending[v]; ok {
		s.lat = append(s.lat, loadtool.Micros(now.Sub(x.due)))
		delete(s.pending, v)
	}
}

// arrived is the baseline's view: a message handed to the device service.
func (s *sampler) arrived(m cityops.Measurement) {
	if v, ok := m.Payload["p"].(float64); ok {
		s.done(v, time.Now())
	}
}

// committed is the storage listener: it hands each followed message the
// database has committed to confirm, without waiting (it runs on the
// ingest's writer).
func (s *sampler) committed(changes []cityops.EntityChange) {
	for _, c := range changes {
		if c.Entity == nil || len(c.Entity.Attrs["pm25"]) == 0 {
			continue
		}
		v, ok := c.Entity.Attrs["pm25"][0]["value"].(float64)
		if !ok {
			continue
		}
		s.mu.Lock()
		x, ok := s.pending[v]
		s.mu.Unlock()
		if ok {
			select {
			case s.check <- x:
			default: // confirm falls behind: the poll finds it
			}
		}
	}
}

// confirm asks storage for each committed followed message, as a client
// reading the history would, and records its latency once History
// returns it. Every pollEvery it also asks for the oldest pending
// message, in case a listener event was missed. It runs until ctx ends.
func (s *sampler) confirm(ctx context.Context, db *storage.DB) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var retry []sample
	ask := func(x sample) bool {
		h, err := db.History(ctx, "", x.entity, "pm25", x.at, x.at.Add(time.Microsecond), 1, false)
		if err == nil && len(h) == 1 && h[0].Value["value"] == x.value {
			s.done(x.value, time.Now())
			return true
		}
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return
		case x := <-s.check:
			if !ask(x) {
				retry = append(retry, x)
			}
		case <-tick.C:
			kept := retry[:0]
			for _, x := range retry {
				if !ask(x) {
					kept = append(kept, x)
				}
			}
			retry = kept
			s.mu.Lock()
			var oldest sample
			for _, x := range s.pending {
				if oldest.due.IsZero() || x.due.Before(oldest.due) {
					oldest = x
				}
			}
			s.mu.Unlock()
			if !oldest.due.IsZero() {
				ask(oldest)
			}
		}
	}
}

// wait waits up to timeout for the pending messages and returns the
// sorted latencies and how many were never seen.
func (s *sampler) wait(ctx context.Context, timeout time.Duration) ([]uint32, int) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		n := len(s.pending)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(pollEvery)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	return lat, len(s.pending)
}

// ms formats microseconds as milliseconds.
func ms[T uint32 | time.Duration](v T) string {
	if d, ok := any(v).(time.Duration); ok {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fms", float64(v)/1000)
}

// errorKind names a publication error without addresses.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
