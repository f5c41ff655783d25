package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops/internal/loadtool"
)

// Keeping up: once publishing stops, the ingest must have written what
// was published, and the alarm engine evaluated it, within keepUpWithin;
// meanwhile the MQTT queue must never hold more than maxQueued of
// readings.
const (
	keepUpWithin = 2 * time.Second
	maxQueued    = time.Second
)

// quietFor ends the wait for the ingest when nothing more is processed.
const quietFor = 5 * time.Second

// sample is one scrape of the metrics during the run.
type sample struct {
	at time.Time
	m  metrics
}

// alarmRun is what the alarms scenario measured.
type alarmRun struct {
	sent, warm, late, acked int64
	pubErrs                 map[string]int64
	window                  time.Duration // the measured publishing window
	m0, m1                  metrics       // at the window's start, and once all was processed
	ingested                time.Duration // from the window's start until the ingest had processed everything
	drain                   time.Duration // of which after publishing stopped
	settle                  time.Duration // the engine's last evaluation after the ingest's last write
	samples                 []sample      // every second of the window
	cpu                     string
	crossings               *crossingResult
}

// d is a counter's increase over the run.
func (a *alarmRun) d(name string) int64 { return a.m1.count(name) - a.m0.count(name) }

// throughput is readings accepted a second, from the window's start until
// the ingest had processed everything.
func (a *alarmRun) throughput() float64 {
	if a.ingested <= 0 {
		return 0
	}
	return perMessage * float64(a.d(mAccepted)) / a.ingested.Seconds()
}

// perMessage is how many readings each MQTT message carries: a reading is
// one measured value, as in the city-data issue's ingest rates.
var perMessage = float64(len(measurements))

// perSecond is a counter's increase in each whole second of the window.
func (a *alarmRun) perSecond(name string) []int64 {
	var out []int64
	for i := 1; i < len(a.samples); i++ {
		out = append(out, a.samples[i].m.count(name)-a.samples[i-1].m.count(name))
	}
	return out
}

// queue is the MQTT queue's deepest, and its mean depth in the first
// and the second half of the window: a queue that keeps growing is one
// the ingest does not keep up with.
func (a *alarmRun) queue() (deepest, first, second int64) {
	var sum [2]int64
	var n [2]int64
	for i, s := range a.samples {
		q := s.m.count(mQueue)
		deepest = max(deepest, q)
		h := 0
		if 2*i >= len(a.samples) {
			h = 1
		}
		sum[h] += q
		n[h]++
	}
	if n[0] > 0 {
		first = sum[0] / n[0]
	}
	if n[1] > 0 {
		second = sum[1] / n[1]
	}
	return deepest, first, second
}

// spread is the min, median and max of per-second figures.
func spread(v []int64) string {
	if len(v) == 0 {
		return "no whole second"
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return fmt.Sprintf("min %s, median %s, max %s", thousands(v[0]), thousands(v[len(v)/2]), thousands(v[len(v)-1]))
}

// alarms measures alarm evaluation at the full MQTT ingest rate with a
// browser on the live stream.
func (r *runner) alarms(ctx context.Context) (err error) {
	o := r.o
	duration, warmup := o.durationFor("alarms"), o.warmupFor("alarms")
	r.header(fmt.Sprintf("alarms: %s rules, MQTT readings at %s/s, reading → alarm → browser", thousands(int64(o.rules)), rate(o.rate)))
	s, err := r.newSession(ctx, "alarms")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	users := filepath.Join(s.dir, "mqtt-users")
	pass, err := usersFile(users)
	if err != nil {
		return err
	}
	if err := s.start(ctx, 8, "-demo", "-mqtt-listen", "127.0.0.1:0", "-mqtt-users", users); err != nil {
		return err
	}
	addr, err := brokerAddress(s.log)
	if err != nil {
		return err
	}

	w := newWorld(o)
	r.progress("alarms: registering %d devices and importing %d rules", w.devices, w.rules)
	t0 := time.Now()
	mix, err := s.setUpWorld(ctx, w)
	if err != nil {
		return err
	}
	m, err := scrape(ctx, s.api)
	if err != nil {
		return err
	}
	r.printf("  broker      cityops's own (serve -mqtt-listen 127.0.0.1:0 -mqtt-users FILE) at %s, one device account\n", addr)
	r.printf("  devices     %s devices over %d entity types (LoadSensorT00…), each feeding its own entity (with a point in Huế):\n",
		thousands(int64(w.devices)), w.types)
	r.printf("              level, temperature, humidity and flow in every message; created, registered and ruled in %.1f s\n",
		time.Since(t0).Seconds())
	r.printf("  rules       %s enabled rules imported in one CSV (POST /api/v1/alarm-rules.csv): %d triggers (level > %g, clear < %g, at once;\n",
		thousands(int64(w.rules)), mix.triggers, triggerAbove, triggerClear)
	r.printf("              %d of them open a case in %s), %d other thresholds (%d held for minutes), %d rates of change, %d counts in a window,\n",
		mix.caseTriggers, caseCategory, mix.thresholds, mix.held, mix.rates, mix.counts)
	r.printf("              %d silences (12–24 h), %d with hysteresis; the engine evaluates %s rules (with the demo's)\n",
		mix.silents, mix.hysteresis, thousands(m.count(mRules)))

	// The browser.
	t := newTracker(w)
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	ready, streamDone, err := t.follow(streamCtx, s.srv.URL, s.key)
	if err != nil {
		return err
	}
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		return errNoHello
	case <-ctx.Done():
		return ctx.Err()
	}
	r.printf("  browser     GET /api/v1/ioc/stream (Server-Sent Events) with the API key, reading every `alarm` event\n")

	clients, err := connect(addr, "iocload", pass, o.publishers)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range clients {
			c.Disconnect(250)
		}
	}()
	r.printf("  load        %s readings/s: %s MQTT messages/s of %d readings each, over %s devices (each %.2f messages/s) on %d MQTT connections (QoS 1), %s warm-up then %s measured;\n",
		rate(o.rate), rate(o.rate/perMessage), int(perMessage), thousands(int64(w.devices)), o.rate/perMessage/float64(w.devices), o.publishers, warmup, duration)
	r.printf("              %g crossings/s: a device's level goes to %g–%g (over its trigger) for %s, then back under %g so that the alarm\n",
		o.crossings, crossingLow, crossingLow+79.9, o.hold, triggerClear)
	r.printf("              clears; each followed from its publication to its `alarm` event on the stream (%s at most)\n", clearWait)

	run, merr := s.measureAlarms(ctx, o, w, t, clients, warmup, duration)
	stopStream()
	<-streamDone
	if run != nil {
		r.printAlarmRun(o, run, merr == nil)
	}
	if merr != nil {
		return merr
	}
	return s.exited()
}

// measureAlarms publishes for warmup + duration, follows the metrics and
// waits for the ingest, the engine and the crossings' alarms. On Ctrl-C
// it returns what it measured with the error.
func (s *session) measureAlarms(ctx context.Context, o options, w *world, t *tracker, clients []paho.Client, warmup, duration time.Duration) (*alarmRun, error) {
	sc := &schedule{rate: o.rate / perMessage, hold: o.hold, publishers: len(clients),
		crossEvery: time.Duration(float64(len(clients)) / o.crossings * 1e9)}
	for d := range w.devices {
		sc.topics = append(sc.topics, "/"+deviceKey+"/"+deviceID(d)+"/attrs")
	}
	before, err := scrape(ctx, s.api)
	if err != nil {
		return nil, err
	}
	sc.start = time.Now().Add(200 * time.Millisecond)
	sc.measure = sc.start.Add(warmup)
	sc.end = sc.measure.Add(duration)
	s.r.progress("alarms: publishing for %s + %s", warmup, duration)

	run := &alarmRun{window: duration}
	var mu sync.Mutex // guards run.samples, run.m0 and cpu while the monitor runs
	var cpu *loadtool.CPUMeter
	monStop, monDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(monDone)
		time.Sleep(time.Until(sc.measure))
		mctx := context.WithoutCancel(ctx)
		m0, err := scrape(mctx, s.api)
		if err != nil {
			m0 = before
		}
		mu.Lock()
		run.m0, cpu = m0, s.startCPU()
		run.samples = append(run.samples, sample{time.Now(), m0})
		mu.Unlock()
		next := sc.measure.Add(time.Second)
		for !next.After(sc.end.Add(10 * time.Millisecond)) {
			select {
			case <-monStop:
				return
			case <-time.After(time.Until(next)):
			}
			if m, err := scrape(mctx, s.api); err == nil {
				mu.Lock()
				run.samples = append(run.samples, sample{time.Now(), m})
				mu.Unlock()
				el := time.Since(sc.measure)
				if int(el.Seconds())%5 == 0 {
					s.r.progress("alarms: %.0f s, %s accepted, %s changes evaluated, mqtt queue %s", el.Seconds(),
						thousands(m.count(mAccepted)-m0.count(mAccepted)), thousands(m.count(mChanges)-m0.count(mChanges)), thousands(m.count(mQueue)))
				}
			}
			next = next.Add(time.Second)
		}
	}()

	stats := make([]pubStats, len(clients))
	var wg sync.WaitGroup
	for p, c := range clients {
		stats[p].errs = map[string]int64{}
		wg.Go(func() { publish(ctx, c, p, sc, w, t, &stats[p]) })
	}
	wg.Wait()
	published := time.Now()
	close(monStop)
	<-monDone
	run.sent, run.warm, run.late, run.acked, run.pubErrs = publishText(stats)
	mu.Lock()
	if cpu == nil { // interrupted during the warm-up
		run.m0, cpu = before, s.startCPU()
	}
	mu.Unlock()

	// Wait for the ingest to process every acknowledged message, then for
	// the engine to evaluate them, then for the crossings' alarms; cut
	// short by Ctrl-C.
	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
	}
	processed := func(m metrics) int64 {
		return m.count(mAccepted) + m.count(mRejected) + m.count(mDropped) -
			before.count(mAccepted) - before.count(mRejected) - before.count(mDropped)
	}
	s.r.progress("alarms: published %s in the window; waiting for the ingest, the engine and the alarms", thousands(run.sent))
	last, lastAt := int64(-1), time.Now()
	var m metrics
	for wctx.Err() == nil {
		if m, err = scrape(wctx, s.api); err != nil {
			break
		}
		if n := processed(m); n != last {
			last, lastAt = n, time.Now()
		}
		if last >= run.acked || time.Since(lastAt) > quietFor {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastAt.Before(published) {
		lastAt = published
	}
	run.ingested, run.drain = lastAt.Sub(sc.measure), lastAt.Sub(published)
	changes, changedAt := int64(-1), time.Now()
	for wctx.Err() == nil && time.Since(changedAt) < time.Second {
		if m, err = scrape(wctx, s.api); err != nil {
			break
		}
		if n := m.count(mChanges); n != changes {
			changes, changedAt = n, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	if changedAt.After(lastAt) {
		run.settle = changedAt.Sub(lastAt)
	}
	for wctx.Err() == nil && t.pending() > 0 {
		t.mu.Lock()
		deadline := t.last.Add(clearWait)
		t.mu.Unlock()
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	run.cpu = cpu.String()
	if m1, err := scrape(context.WithoutCancel(ctx), s.api); err == nil {
		run.m1 = m1
	} else if len(run.samples) > 0 {
		run.m1 = run.samples[len(run.samples)-1].m
	} else {
		run.m1 = run.m0
	}
	run.crossings = t.result()
	if err := ctx.Err(); err != nil {
		return run, err
	}
	if run.crossings.readErr != nil {
		return run, run.crossings.readErr
	}
	if run.d(mAccepted) == 0 {
		return run, errors.New("no reading was accepted")
	}
	return run, nil
}

// printAlarmRun prints the figures and, for a whole run, judges the
// targets.
func (r *runner) printAlarmRun(o options, a *alarmRun, judge bool) {
	errs := int64(0)
	for _, n := range a.pubErrs {
		errs += n
	}
	r.printf("  published   %s messages in %.1f s (%s/s, %s readings/s; warm-up, not counted: %s); without PUBACK: %s; %s late (> %s behind schedule)\n",
		thousands(a.sent), a.window.Seconds(), rate(float64(a.sent)/a.window.Seconds()), rate(perMessage*float64(a.sent)/a.window.Seconds()),
		thousands(a.warm), errorsText(a.pubErrs),
		thousands(a.late), lateAfter)
	r.printf("  accepted    %s messages; rejected %s; dropped %s (cityops_mqtt_messages_total, from the window's start until all was processed)\n",
		thousands(a.d(mAccepted)), thousands(a.d(mRejected)), thousands(a.d(mDropped)))
	r.printf("  throughput  %s readings/s over %.1f s (%.2f s of it draining after publishing stopped); messages per whole second %s\n",
		rate(a.throughput()), a.ingested.Seconds(), a.drain.Seconds(), spread(a.perSecond(mAccepted)))
	maxQueue, firstHalf, secondHalf := a.queue()
	r.printf("  mqtt queue  deepest %s messages (%.1f s of them); on average %s in the window's first half, %s in its second\n",
		thousands(maxQueue), float64(maxQueue)/(o.rate/perMessage), thousands(firstHalf), thousands(secondHalf))
	r.printf("              (cityops_mqtt_queue_depth, every second)\n")
	ratio := 0.0
	if n := a.d(mAccepted); n > 0 {
		ratio = float64(a.d(mChanges)) / float64(n)
	}
	r.printf("  engine      %s entity changes evaluated (cityops_alarm_changes_total; %.2f per message accepted), %s rule readings;\n",
		thousands(a.d(mChanges)), ratio, thousands(a.d(mReadings)))
	r.printf("              changes per whole second %s; dropped %s, failed %s; raised %s, ended %s;\n",
		spread(a.perSecond(mChanges)), thousands(a.d(mAlarmDropped)), thousands(a.d(mFailed)), thousands(a.d(mRaised)), thousands(a.d(mEnded)))
	r.printf("              its last evaluation %.2f s after the ingest's last write\n", a.settle.Seconds())
	c := a.crossings
	r.printf("  crossings   %s started; their alarm on the stream: %s raised, %s repeated (the previous one still open), %s never (within %s);\n",
		thousands(int64(c.started)), thousands(int64(c.raised)), thousands(int64(c.repeated)), thousands(int64(c.unseen)), clearWait)
	r.printf("              %s with another value than published; %s opened a case; trigger events %v, other alarm events %v\n",
		thousands(int64(c.wrongValue)), thousands(int64(c.cases)), c.events, c.other)
	l := c.latency
	r.printf("  latency     publish → `alarm` event: p50 %s, p95 %s, p99 %s, max %s (%s seen); p99 with the missed ones as slowest %s\n",
		ms(loadtool.Quantile(l, 500)), ms(loadtool.Quantile(l, 950)), ms(loadtool.Quantile(l, 990)), ms(loadtool.Quantile(l, 1000)),
		thousands(int64(len(l))), msOrMissed(c.p(990)))
	if cl := c.caseLatency; len(cl) > 0 {
		r.printf("              of those opening a case: p50 %s, p95 %s, max %s (%d)\n", ms(loadtool.Quantile(cl, 500)),
			ms(loadtool.Quantile(cl, 950)), ms(loadtool.Quantile(cl, 1000)), len(cl))
	}
	r.printf("  cpu         %s\n", a.cpu)
	if !judge {
		return
	}

	// Keeping up is taking every reading offered at the target rate with
	// a bounded queue, and being done soon after publishing stops. The
	// throughput counts that last drain too, so at exactly the target
	// rate it is a little under it by construction; it is shown, not
	// judged.
	tput := a.throughput()
	var short []string
	if o.rate < targetAlarmRate {
		short = append(short, fmt.Sprintf("only %s readings/s offered", rate(o.rate)))
	}
	if published := perMessage * float64(a.sent) / a.window.Seconds(); published < 0.99*o.rate {
		short = append(short, fmt.Sprintf("the load tool published only %s readings/s of the %s scheduled", rate(published), rate(o.rate)))
	}
	if n := a.d(mAccepted); n < a.sent {
		short = append(short, fmt.Sprintf("%s of the %s messages published accepted", thousands(n), thousands(a.sent)))
	}
	if o.rules < targetRules {
		short = append(short, fmt.Sprintf("only %s rules", thousands(int64(o.rules))))
	}
	if float64(maxQueue) > o.rate/perMessage*maxQueued.Seconds() {
		short = append(short, fmt.Sprintf("queue up to %.1f s of readings", float64(maxQueue)/(o.rate/perMessage)))
	}
	if a.drain >= keepUpWithin || a.settle >= keepUpWithin {
		short = append(short, "still "+limit(keepUpWithin)+" or more behind when publishing stopped")
	}
	if n := a.d(mDropped) + a.d(mAlarmDropped) + a.d(mFailed); n > 0 {
		short = append(short, fmt.Sprintf("%d readings and %d changes dropped, %d transitions failed", a.d(mDropped),
			a.d(mAlarmDropped), a.d(mFailed)))
	}
	measured := fmt.Sprintf("%s readings/s with %s rules; ingest drained %.1f s and engine settled %.1f s after publishing; dropped %d",
		rate(tput), thousands(a.m1.count(mRules)), a.drain.Seconds(), a.settle.Seconds(), a.d(mAlarmDropped)+a.d(mDropped))
	if len(short) > 0 {
		measured += " — short: " + strings.Join(short, "; ")
	}
	r.target("alarms", fmt.Sprintf("alarm evaluation keeps up with ≥ %s readings/s, %s rules (nothing dropped, no more than %s of readings queued, settled within %s)",
		rate(targetAlarmRate), thousands(targetRules), limit(maxQueued), limit(keepUpWithin)), measured, len(short) == 0)
	p99 := c.p(990)
	measured = fmt.Sprintf("p99 %s (p50 %s, max %s; %s crossings, %d never seen)", msOrMissed(p99), ms(loadtool.Quantile(l, 500)),
		ms(loadtool.Quantile(l, 1000)), thousands(int64(c.started)), c.unseen)
	met := p99 < targetAlarmP99 && c.started > 0
	if o.rules < targetRules || o.rate < targetAlarmRate {
		measured += fmt.Sprintf(" — short: at %s readings/s with %s rules", rate(o.rate), thousands(int64(o.rules)))
		met = false
	}
	r.target("alarms", fmt.Sprintf("reading → alarm → browser p99 < %s at %s readings/s with %s rules", limit(targetAlarmP99),
		rate(targetAlarmRate), thousands(targetRules)), measured, met)
}

// msOrMissed is a latency, or "missed" for one counted as never seen.
func msOrMissed(d time.Duration) string {
	if d >= time.Duration(1<<62) {
		return "missed"
	}
	return ms(d)
}

// brokerAddress reads the embedded broker's address from the server's
// log (a JSON line "mqtt broker listening") and checks that it is on
// this machine.
func brokerAddress(log string) (string, error) {
	f, err := os.Open(log)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	addr := ""
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "mqtt broker listening" {
			addr = l.Address
		}
	}
	if addr == "" {
		return "", fmt.Errorf("the server log does not say where the MQTT broker listens\n%s", loadtool.LogTail(log, 10))
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !loadtool.IsLoopbackHost(host) {
		return "", fmt.Errorf("refusing the MQTT broker at %q: %w", addr, guard.NotLoopback())
	}
	return addr, nil
}
