package alarm

import (
	"fmt"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

var t0 = time.Date(2025, 10, 1, 6, 0, 0, 0, time.UTC)

// at is t0 plus m minutes.
func at(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func ptr(f float64) *float64 { return &f }

var nothing = transition{}

func raised(v float64) transition { return transition{raise, v} }
func ended(v float64) transition  { return transition{end, v} }

func (tr transition) String() string { return fmt.Sprintf("%s %g", tr.action, tr.value) }

// event is a reading of v at minute m, or a tick at minute m, with the
// transition it must make.
type event struct {
	m    float64
	v    float64
	tick bool
	want transition
}

func rd(m, v float64, want transition) event { return event{m: m, v: v, want: want} }
func tk(m float64, want transition) event    { return event{m: m, tick: true, want: want} }

func TestStepTick(t *testing.T) {
	river := cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3.5, Clear: ptr(3.3)}
	tests := []struct {
		name   string
		rule   cityops.AlarmRule
		seen   *float64 // a silent state seeded as last seen at this minute
		events []event
	}{
		{"threshold with hysteresis", river, nil, []event{
			rd(0, 3.4, nothing),
			rd(1, 3.6, raised(3.6)),
			rd(2, 3.4, nothing), // between 3.3 and 3.5: still high
			rd(3, 3.7, nothing), // already raised
			rd(4, 3.2, ended(3.2)),
			rd(5, 3.4, nothing),
			rd(6, 3.6, raised(3.6)),
		}},
		{"threshold clears exactly at the clear level", river, nil, []event{
			rd(0, 3.6, raised(3.6)),
			rd(1, 3.3, ended(3.3)), // not > 3.3
		}},
		{"threshold without hysteresis", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3.5}, nil, []event{
			rd(0, 3.6, raised(3.6)),
			rd(1, 3.5, ended(3.5)),
			rd(2, 3.5, nothing),
			rd(3, 3.51, raised(3.51)),
		}},
		{"threshold below, clearing above", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: "<", Value: 10, Clear: ptr(12)}, nil, []event{
			rd(0, 10, nothing),
			rd(1, 9, raised(9)),
			rd(2, 11.5, nothing),
			rd(3, 12, ended(12)),
		}},
		{"threshold >= includes the value", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">=", Value: 5}, nil, []event{
			rd(0, 5, raised(5)),
			rd(1, 4.9, ended(4.9)),
		}},
		{"threshold for minutes raises only after the duration", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3, ForMinutes: 10}, nil, []event{
			rd(0, 4, nothing),
			rd(5, 4, nothing),
			rd(9.9, 5, nothing),
			rd(10, 4, raised(4)),
			rd(11, 6, nothing),
			rd(12, 2, ended(2)),
			rd(13, 4, nothing), // a new run starts
			rd(22, 4, nothing),
			rd(23, 4, raised(4)),
		}},
		{"threshold for minutes: a dip resets", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3, ForMinutes: 10}, nil, []event{
			rd(0, 4, nothing),
			rd(8, 2, nothing), // the dip
			rd(9, 4, nothing), // since 9
			rd(12, 4, nothing),
			tk(18, nothing),
			rd(18.5, 4, nothing),
			rd(19, 4, raised(4)),
		}},
		{"threshold for minutes: the tick raises with the last value", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3, ForMinutes: 10}, nil, []event{
			rd(0, 4, nothing),
			rd(2, 4.5, nothing),
			tk(5, nothing),
			tk(9.99, nothing),
			tk(10, raised(4.5)),
			tk(11, nothing), // raised once
			rd(12, 4, nothing),
			rd(13, 1, ended(1)),
			tk(30, nothing), // not pending
		}},
		{"threshold for minutes: no tick raise after a dip", cityops.AlarmRule{Kind: cityops.RuleThreshold, Op: ">", Value: 3, ForMinutes: 10}, nil, []event{
			rd(0, 4, nothing),
			rd(3, 2, nothing),
			tk(15, nothing),
		}},
		{"threshold without for minutes does not tick", river, nil, []event{
			rd(0, 3.4, nothing),
			tk(60, nothing),
		}},
		{"threshold ignores older and repeated readings", river, nil, []event{
			rd(10, 3.6, raised(3.6)),
			rd(5, 3.2, nothing),  // older: ignored
			rd(10, 3.2, nothing), // the same time again: ignored
			rd(11, 3.4, nothing),
			rd(12, 3.2, ended(3.2)),
			rd(11.5, 3.9, nothing), // older than the last: ignored
		}},
		{"threshold: an older reading does not raise", river, nil, []event{
			rd(10, 3.0, nothing),
			rd(5, 3.9, nothing),
			rd(11, 3.0, nothing),
		}},

		// Rate: > 0.3 m within 60 minutes. Values are binary fractions so
		// that the differences are exact.
		{"rate: a fast rise raises", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(0, 1, nothing), // one sample: no change yet
			rd(30, 1.25, nothing),
			rd(60, 1.5, raised(0.5)), // the window includes its start
			rd(70, 1.625, nothing),   // 1.625 − 1.25, still rising
			rd(90, 1.5, ended(0.25)), // [30, 90]: 1.5 − 1.25
		}},
		{"rate: a slow rise does not", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(0, 1, nothing),
			rd(30, 1.125, nothing),
			rd(60, 1.25, nothing),
			rd(90, 1.375, nothing),
			rd(120, 1.5, nothing), // 0.5 in two hours, 0.25 in any hour
		}},
		{"rate: the window slides", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(0, 1, nothing),
			rd(61, 1.5, nothing), // 1 fell out of the window: one sample
			rd(62, 1.625, nothing),
			rd(121, 1.75, nothing), // [61, 121]: 0.25
			rd(122, 2, raised(0.375)),
			rd(182, 2.125, ended(0.125)), // [122, 182]
		}},
		{"rate: ends when the change falls to the clear level", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.5, Clear: ptr(0.25), WindowMinutes: 60}, nil, []event{
			rd(0, 0, nothing),
			rd(30, 0.75, raised(0.75)),
			rd(80, 1.125, nothing), // [20, 80]: 0.375, above the clear level
			rd(100, 1.25, ended(0.125)),
		}},
		{"rate: a fall", cityops.AlarmRule{Kind: cityops.RuleRate, Op: "<", Value: -0.5, WindowMinutes: 30}, nil, []event{
			rd(0, 2, nothing),
			rd(10, 1.75, nothing),
			rd(20, 1.25, raised(-0.75)),
			rd(40, 1.25, ended(-0.5)), // [10, 40]: 1.25 − 1.75 = −0.5, not < −0.5
		}},
		{"rate: an older reading in the window counts", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(30, 1.25, nothing),
			rd(60, 1.5, nothing),
			rd(10, 1, raised(0.5)), // now the oldest in [0, 60]
		}},
		{"rate: late history changes nothing", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(200, 1, nothing),
			rd(210, 1.5, raised(0.5)),
			rd(100, 0, nothing), // older than 210 − 60
			rd(140, 9, nothing),
			rd(149.9, 0, nothing),
			rd(215, 1.375, nothing),    // [155, 215]: 1.375 − 1 still
			rd(275, 1.5, ended(0.125)), // [215, 275]: the late readings left no trace
		}},
		{"rate does not tick", cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 0.3, WindowMinutes: 60}, nil, []event{
			rd(0, 1, nothing),
			rd(10, 2, raised(1)),
			tk(500, nothing),
		}},

		// Count: > 70 three times within 10 minutes.
		{"count: three times in ten minutes raises", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(0, 71, nothing),
			rd(4, 72, nothing),
			rd(6, 60, nothing),
			rd(10, 73, raised(73)), // 0, 4 and 10: the window includes its start
			rd(11, 75, nothing),    // already raised
			rd(12, 50, nothing),    // hits at 4, 10, 11 still in [2, 12]
		}},
		{"count: three times in thirty minutes does not", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(0, 71, nothing),
			rd(11, 71, nothing),
			rd(22, 71, nothing),
			rd(30, 71, nothing), // 22 and 30
		}},
		{"count: ends when the window empties on tick", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(0, 71, nothing),
			rd(1, 72, nothing),
			rd(2, 74, raised(74)),
			rd(5, 60, nothing),
			tk(8, nothing),
			tk(12, nothing), // the hit at 2 is still in [2, 12]
			tk(12.5, ended(60)),
			tk(20, nothing),
		}},
		{"count: ends on a reading once no hit is left", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(0, 71, nothing),
			rd(1, 72, nothing),
			rd(2, 74, raised(74)),
			rd(13, 60, ended(60)),
			rd(14, 71, nothing), // a fresh count
			rd(15, 71, nothing),
			rd(16, 71, raised(71)),
		}},
		{"count: a repeated observation counts once", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(0, 71, nothing),
			rd(0, 71, nothing),
			rd(0, 71, nothing),
			rd(1, 71, nothing),
		}},
		{"count: late history changes nothing", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 70, Count: 3, WindowMinutes: 10}, nil, []event{
			rd(100, 71, nothing),
			rd(50, 71, nothing),
			rd(60, 71, nothing),
			rd(89.9, 71, nothing), // older than 100 − 10
			rd(101, 71, nothing),  // 100 and 101 only
			rd(102, 71, raised(71)),
			rd(70, 10, nothing),
			tk(111, nothing), // 102 is in [101, 111]
			tk(112.5, ended(71)),
		}},
		{"count: older readings in the window count", cityops.AlarmRule{Kind: cityops.RuleCount, Op: "<=", Value: 0, Count: 2, WindowMinutes: 10}, nil, []event{
			rd(10, 0, nothing),
			rd(5, -1, raised(-1)),
		}},
		{"count: once", cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">=", Value: 1, Count: 1, WindowMinutes: 5}, nil, []event{
			rd(0, 1, raised(1)),
			rd(5, 0, nothing),
			rd(5.5, 0, ended(0)),
		}},

		// Silent: no sign of life for 30 minutes.
		{"silent: the tick raises after the window, a reading ends", cityops.AlarmRule{Kind: cityops.RuleSilent, WindowMinutes: 30}, ptr(0), []event{
			tk(29, nothing),
			tk(30, raised(30)),
			tk(45, nothing),
			rd(50.4, 0, ended(50)),
			tk(70, nothing),
			tk(80.2, nothing), // 29.8 minutes
			tk(80.4, raised(30)),
		}},
		{"silent: readings keep it quiet", cityops.AlarmRule{Kind: cityops.RuleSilent, WindowMinutes: 30}, nil, []event{
			tk(100, nothing), // never seen: nothing to say
			rd(0, 0, nothing),
			rd(20, 0, nothing),
			tk(45, nothing),
			rd(10, 0, nothing), // older: does not move last seen back
			tk(49, nothing),
			tk(50, raised(30)),
			tk(59, nothing),
			rd(61, 0, ended(41)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s state
			if tt.seen != nil {
				s.seen, s.last = true, at(*tt.seen)
			}
			for i, ev := range tt.events {
				var got transition
				if ev.tick {
					got = tick(&tt.rule, &s, at(ev.m))
				} else {
					got = step(&tt.rule, &s, at(ev.m), ev.v)
				}
				if got != ev.want {
					kind := fmt.Sprintf("reading %g", ev.v)
					if ev.tick {
						kind = "tick"
					}
					t.Errorf("event %d (%s at minute %g): got %v, want %v", i, kind, ev.m, got, ev.want)
				}
			}
		})
	}
}

// TestSamplesBounded checks that a state keeps at most maxSamples
// readings for a rate and Count hits for a count.
func TestSamplesBounded(t *testing.T) {
	rate := &cityops.AlarmRule{Kind: cityops.RuleRate, Op: ">", Value: 1e9, WindowMinutes: 10080}
	count := &cityops.AlarmRule{Kind: cityops.RuleCount, Op: ">", Value: 0, Count: 5, WindowMinutes: 10080}
	var rs, cs state
	for i := range 3 * maxSamples {
		tm := t0.Add(time.Duration(i) * time.Second)
		step(rate, &rs, tm, float64(i))
		step(count, &cs, tm, 1)
	}
	if got := len(rs.samples); got != maxSamples {
		t.Errorf("rate samples: got %d, want %d", got, maxSamples)
	}
	if got, want := rs.samples[0].v, float64(2*maxSamples); got != want {
		t.Errorf("oldest rate sample: got %g, want %g (the oldest are dropped)", got, want)
	}
	if got := len(cs.samples); got != 5 {
		t.Errorf("count samples: got %d, want 5", got)
	}
}

func TestInsertTrim(t *testing.T) {
	var s []sample
	for _, m := range []float64{5, 1, 3, 3, 9, 7} {
		s = insert(s, sample{at(m), m * 10}, 4)
	}
	got := fmt.Sprint(minutesOf(s))
	if want := "[3 5 7 9]"; got != want {
		t.Errorf("insert: got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(minutesOf(trim(s, at(5))), minutesOf(trim(s, at(10)))), "[5 7 9] []"; got != want {
		t.Errorf("trim: got %s, want %s", got, want)
	}
}

func minutesOf(s []sample) []float64 {
	var m []float64
	for _, x := range s {
		m = append(m, x.t.Sub(t0).Minutes())
	}
	return m
}
