// Package alarm evaluates alarm rules (cityops.AlarmRule) against the
// city's live data: it listens to committed entity writes, keeps each
// rule's state per entity in memory and writes the alarms raised and the
// conditions ended to a Store.
//
// The rule semantics are the pure functions step (a reading) and tick (the
// clock) in this file; eval.go applies them to entity changes and engine.go
// does the queueing and the writing.
package alarm

import (
	"math"
	"slices"
	"time"

	"github.com/cityops/cityops"
)

// action is what a reading or a tick does to a rule's alarm for one entity.
type action uint8

const (
	none  action = iota
	raise        // the condition is met: raise the alarm (the Store repeats an open one)
	end          // the condition ended: the Store clears the alarm if the rule clears automatically
)

func (a action) String() string {
	switch a {
	case raise:
		return "raise"
	case end:
		return "end"
	}
	return "none"
}

// transition is the outcome of a step or a tick. value is the alarm's
// value: the reading (threshold, count), the change over the window
// (rate) or the minutes of silence (silent).
type transition struct {
	action action
	value  float64
}

// maxSamples bounds the readings a rate state keeps in its window; beyond
// it the oldest are dropped. A count state keeps at most Count hits.
const maxSamples = 4096

// sample is one reading kept in a window.
type sample struct {
	t time.Time
	v float64
}

// state is what a rule remembers of one entity. The zero value is a state
// that has seen nothing.
type state struct {
	// firing: this state raised the alarm and has not ended it since.
	firing bool
	// seen: a reading was evaluated (silent: or the entity was seeded).
	seen bool
	// last is the newest reading's time (silent: when last seen), value
	// its value.
	last  time.Time
	value float64
	// pending: a threshold condition has held since since, not yet for
	// ForMinutes.
	pending bool
	since   time.Time
	// samples are, oldest first, the readings in the window (rate) or
	// those that met the condition (count).
	samples []sample
}

// step evaluates a reading of value v observed at t. For RuleSilent, v is
// unused and t is when the entity was written.
func step(r *cityops.AlarmRule, s *state, t time.Time, v float64) transition {
	switch r.Kind {
	case cityops.RuleThreshold:
		return stepThreshold(r, s, t, v)
	case cityops.RuleRate:
		return stepRate(r, s, t, v)
	case cityops.RuleCount:
		return stepCount(r, s, t, v)
	case cityops.RuleSilent:
		return stepSilent(s, t)
	}
	return transition{}
}

// tick evaluates the conditions that the clock alone can change: a
// threshold held for ForMinutes, a count window emptied, a silence.
func tick(r *cityops.AlarmRule, s *state, now time.Time) transition {
	switch r.Kind {
	case cityops.RuleThreshold:
		if !s.firing && s.pending && r.ForMinutes > 0 && now.Sub(s.since) >= minutes(r.ForMinutes) {
			s.firing, s.pending = true, false
			return transition{raise, s.value}
		}
	case cityops.RuleCount:
		s.samples = trim(s.samples, now.Add(-minutes(r.WindowMinutes)))
		if s.firing && len(s.samples) == 0 {
			s.firing = false
			return transition{end, s.value}
		}
	case cityops.RuleSilent:
		if s.seen && !s.firing && r.WindowMinutes > 0 && now.Sub(s.last) >= minutes(r.WindowMinutes) {
			s.firing = true
			return transition{raise, roundMinutes(now.Sub(s.last))}
		}
	}
	return transition{}
}

// ticks reports whether tick can change a state of the rule.
func ticks(r *cityops.AlarmRule) bool {
	switch r.Kind {
	case cityops.RuleThreshold:
		return r.ForMinutes > 0
	case cityops.RuleCount, cityops.RuleSilent:
		return true
	}
	return false
}

// stepThreshold: raise once the value has compared with Value for
// ForMinutes; end once it no longer compares with the clear level.
// Readings not newer than the last one are ignored.
func stepThreshold(r *cityops.AlarmRule, s *state, t time.Time, v float64) transition {
	if s.seen && !t.After(s.last) {
		return transition{}
	}
	s.seen, s.last, s.value = true, t, v
	if s.firing {
		if !cityops.Compare(v, r.Op, r.ClearLevel()) {
			s.firing = false
			return transition{end, v}
		}
		return transition{}
	}
	if !cityops.Compare(v, r.Op, r.Value) {
		s.pending = false
		return transition{}
	}
	if !s.pending {
		s.pending, s.since = true, t
	}
	if t.Sub(s.since) >= minutes(r.ForMinutes) {
		s.firing, s.pending = true, false
		return transition{raise, v}
	}
	return transition{}
}

// stepRate: the change is the newest value in the window less the oldest.
func stepRate(r *cityops.AlarmRule, s *state, t time.Time, v float64) transition {
	if !s.accept(t, v, r.WindowMinutes) {
		return transition{}
	}
	s.samples = insert(s.samples, sample{t, v}, maxSamples)
	s.samples = trim(s.samples, s.last.Add(-minutes(r.WindowMinutes)))
	if len(s.samples) < 2 {
		return transition{}
	}
	change := s.samples[len(s.samples)-1].v - s.samples[0].v
	switch {
	case !s.firing && cityops.Compare(change, r.Op, r.Value):
		s.firing = true
		return transition{raise, change}
	case s.firing && !cityops.Compare(change, r.Op, r.ClearLevel()):
		s.firing = false
		return transition{end, change}
	}
	return transition{}
}

// stepCount: raise when at least Count readings in the window met the
// condition; end when none in the window does.
func stepCount(r *cityops.AlarmRule, s *state, t time.Time, v float64) transition {
	if !s.accept(t, v, r.WindowMinutes) {
		return transition{}
	}
	n := max(r.Count, 1)
	if cityops.Compare(v, r.Op, r.Value) {
		s.samples = insert(s.samples, sample{t, v}, n)
	}
	s.samples = trim(s.samples, s.last.Add(-minutes(r.WindowMinutes)))
	switch {
	case !s.firing && len(s.samples) >= n:
		s.firing = true
		return transition{raise, v}
	case s.firing && len(s.samples) == 0:
		s.firing = false
		return transition{end, v}
	}
	return transition{}
}

// stepSilent: any sign of life ends a silence.
func stepSilent(s *state, t time.Time) transition {
	var tr transition
	if s.firing {
		s.firing = false
		tr = transition{end, roundMinutes(max(t.Sub(s.last), 0))}
	}
	if !s.seen || t.After(s.last) {
		s.last = t
	}
	s.seen = true
	return tr
}

// accept notes a rate or count reading unless it is older than the
// newest one by more than the window (a late backfill of history), which
// must change nothing.
func (s *state) accept(t time.Time, v float64, window int) bool {
	if s.seen && t.Before(s.last.Add(-minutes(window))) {
		return false
	}
	if !s.seen || t.After(s.last) {
		s.last, s.value = t, v
	}
	s.seen = true
	return true
}

// insert adds x to samples in time order, replacing a sample of the same
// time (the same observation written again), and drops the oldest beyond
// limit.
func insert(samples []sample, x sample, limit int) []sample {
	i, found := slices.BinarySearchFunc(samples, x.t, func(s sample, t time.Time) int { return s.t.Compare(t) })
	if found {
		samples[i] = x
		return samples
	}
	if i == len(samples) {
		samples = append(samples, x)
	} else {
		samples = slices.Insert(samples, i, x)
	}
	if len(samples) > limit {
		samples = samples[len(samples)-limit:]
	}
	return samples
}

// trim drops the samples before from (the window includes its start).
func trim(samples []sample, from time.Time) []sample {
	i := 0
	for i < len(samples) && samples[i].t.Before(from) {
		i++
	}
	if i == len(samples) {
		return samples[:0]
	}
	return samples[i:]
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }

func roundMinutes(d time.Duration) float64 { return math.Round(d.Minutes()) }
