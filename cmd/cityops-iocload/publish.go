package main

// The devices' side of the alarms scenario: MQTT publishers at a fixed
// rate (open loop, QoS 1, as cmd/cityops-mqttload publishes), a few of
// whose readings a second cross a trigger rule's level.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

const (
	// inflight is the most unacknowledged QoS 1 messages per connection.
	inflight = 2000
	// ackTimeout bounds the wait for one PUBACK.
	ackTimeout = 30 * time.Second
	// lateAfter is how far behind its schedule a publication may start
	// before it counts as late: the publishers could not keep up.
	lateAfter = 5 * time.Millisecond
)

// schedule is when the publishers send what.
type schedule struct {
	rate                float64
	start, measure, end time.Time
	crossEvery          time.Duration // between one publisher's crossings
	hold                time.Duration
	publishers          int
	topics              []string
}

// pubStats are one publisher's counters; the publisher alone writes them.
type pubStats struct {
	sent, warm, late, acked int64
	errs                    map[string]int64
}

// connect opens n publishing connections to the embedded broker.
func connect(addr, user, pass string, n int) ([]paho.Client, error) {
	var out []paho.Client
	for i := range n {
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("iocload-pub-%d-%d", i, time.Now().UnixNano())).
			SetUsername(user).SetPassword(pass).SetDialer(guard.Dialer()).
			SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetCleanSession(true)
		c := paho.NewClient(opts)
		if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
			for _, c := range out {
				c.Disconnect(250)
			}
			return nil, fmt.Errorf("publisher %d: connect tcp://%s: %v", i, addr, t.Error())
		}
		out = append(out, c)
	}
	return out, nil
}

// publish sends publisher p's share of the schedule: message seq (p,
// p+n, p+2n, …) is due at start + seq/rate and goes to device seq mod
// devices, so that each device is one publisher's and its readings keep
// their order. Each carries all four measurements and its due time as
// TimeInstant. From the measured window on, about every crossEvery the
// next quiet device that may cross reports a level over its trigger for
// hold, then normal readings again.
func publish(ctx context.Context, c paho.Client, p int, sc *schedule, w *world, t *tracker, st *pubStats) {
	ring := make([]paho.Token, inflight)
	wait := func(tok paho.Token) {
		switch {
		case !tok.WaitTimeout(ackTimeout):
			st.errs["no PUBACK within "+ackTimeout.String()]++
		case tok.Error() != nil:
			st.errs[pubErrorKind(tok.Error())]++
		default:
			st.acked++
		}
	}
	n := sc.publishers
	nextCross := sc.measure.Add(time.Duration(p) * sc.crossEvery / time.Duration(n))
	until := make(map[int]time.Time) // high until (phaseHigh), or clearing since (phaseClearing)
	values := make(map[int]float64)  // a crossing device's level
	k := p                           // crossing number: unique over the publishers
	for i, seq := 0, p; ctx.Err() == nil; i, seq = i+1, seq+n {
		due := sc.start.Add(time.Duration(float64(seq) * 1e9 / sc.rate))
		if !due.Before(sc.end) {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		dev := seq % w.devices
		measured := !due.Before(sc.measure)
		if measured {
			st.sent++
			if time.Since(due) > lateAfter {
				st.late++
			}
		} else {
			st.warm++
		}
		level := normal(0, seq)
		now := time.Now()
		crosses := false
		switch t.phases[dev].Load() {
		case phaseHigh:
			if now.Before(until[dev]) {
				level = values[dev]
			} else {
				until[dev] = now
				t.phases[dev].Store(phaseClearing)
			}
		case phaseClearing:
			if now.Sub(until[dev]) > clearWait {
				t.phases[dev].CompareAndSwap(phaseClearing, phaseQuiet)
			}
		case phaseQuiet:
			if measured && !due.Before(nextCross) && w.crosses(dev) {
				level = crossingLow + float64(k%800)/10
				k += n
				values[dev], until[dev] = level, now.Add(sc.hold)
				t.phases[dev].Store(phaseHigh)
				crosses = true
				nextCross = nextCross.Add(sc.crossEvery)
			}
		}
		payload := make([]byte, 0, 96) // paho writes it later: one per message
		payload = append(payload, '{')
		for m, x := range measurements {
			v := level // measurements[0], the level the triggers watch
			if m > 0 {
				v = normal(m, seq)
				payload = append(payload, ',')
			}
			payload = append(payload, '"')
			payload = append(payload, x.key...)
			payload = append(payload, `":`...)
			payload = strconv.AppendFloat(payload, v, 'f', -1, 64)
		}
		payload = append(payload, `,"TimeInstant":"`...)
		payload = due.UTC().AppendFormat(payload, "2006-01-02T15:04:05.000000Z07:00")
		payload = append(payload, `"}`...)
		slot := i % len(ring)
		if old := ring[slot]; old != nil {
			wait(old)
		}
		if crosses {
			t.start(dev, level) // its time: as close to the hand-over as can be
		}
		ring[slot] = c.Publish(sc.topics[dev], 1, false, payload)
	}
	for _, tok := range ring {
		if tok != nil {
			wait(tok)
		}
	}
}

// pubErrorKind names a publication error without addresses.
func pubErrorKind(err error) string {
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// publishText describes the publishers' counters.
func publishText(stats []pubStats) (sent, warm, late, acked int64, errs map[string]int64) {
	errs = map[string]int64{}
	for _, st := range stats {
		sent += st.sent
		warm += st.warm
		late += st.late
		acked += st.acked
		for k, v := range st.errs {
			errs[k] += v
		}
	}
	return
}
