package alarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// recorder is a Store that keeps rules in memory and records the
// transitions written to it, as "raise code entity value" and
// "end code entity value".
type recorder struct {
	mu    sync.Mutex
	rules []*cityops.AlarmRule
	seen  map[string][]cityops.EntitySeen
	calls []string
	fail  int           // fail the next fail writes
	delay time.Duration // before each write
}

func (s *recorder) AlarmRules(ctx context.Context) ([]*cityops.AlarmRule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*cityops.AlarmRule(nil), s.rules...), nil
}

func (s *recorder) LastSeen(ctx context.Context, entityType string) ([]cityops.EntitySeen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[entityType], nil
}

func (s *recorder) RaiseAlarm(ctx context.Context, in *cityops.AlarmRaise) (*cityops.Alarm, error) {
	if err := s.write(fmt.Sprintf("raise %s %s %g", in.Rule.Code, in.EntityID, in.Value)); err != nil {
		return nil, err
	}
	return &cityops.Alarm{Rule: in.Rule.Code, EntityID: in.EntityID, Value: in.Value, Message: in.Message}, nil
}

func (s *recorder) EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*cityops.Alarm, error) {
	return nil, s.write(fmt.Sprintf("end %s %s %g", rule, entityID, value))
}

func (s *recorder) write(call string) error {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		s.calls = append(s.calls, "failed "+call)
		return errors.New("database is locked")
	}
	s.calls = append(s.calls, call)
	return nil
}

func (s *recorder) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *recorder) setRules(rules ...*cityops.AlarmRule) {
	s.mu.Lock()
	s.rules = rules
	s.mu.Unlock()
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs an engine over store until the test ends.
func start(t *testing.T, store Store, o Options) *Engine {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	e := New(store, o)
	e.backoff = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}

func flush(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// readings makes one change per value, a minute apart from minute m.
func readings(id string, m float64, vs ...float64) []cityops.EntityChange {
	var cs []cityops.EntityChange
	for i, v := range vs {
		tm := at(m + float64(i))
		cs = append(cs, gauge(id, 16.45, 107.55, tm, level(v, tm), levelAttr))
	}
	return cs
}

func TestEngineOrder(t *testing.T) {
	store := &recorder{rules: []*cityops.AlarmRule{riverRule()}, delay: time.Millisecond}
	e := start(t, store, Options{})
	// One change at a time, and a batch: the transitions of each entity
	// reach the Store in the order they happened, however slowly it writes.
	for _, c := range readings(gauge1, 0, 3.4, 3.6, 3.4, 3.2, 3.7) {
		e.Listen([]cityops.EntityChange{c})
	}
	e.Listen(append(readings(gauge2, 0, 3.6, 3.0), readings(gauge1, 10, 3.0, 3.9, 3.1)...))
	flush(t, e)
	got := strings.Join(store.take(), "\n")
	want := strings.Join([]string{
		"raise river-high " + gauge1 + " 3.6",
		"end river-high " + gauge1 + " 3.2",
		"raise river-high " + gauge1 + " 3.7",
		"raise river-high " + gauge2 + " 3.6",
		"end river-high " + gauge2 + " 3",
		"end river-high " + gauge1 + " 3",
		"raise river-high " + gauge1 + " 3.9",
		"end river-high " + gauge1 + " 3.1",
	}, "\n")
	if got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	st := e.Stats()
	if st.Changes != 10 || st.Readings != 10 || st.Raised != 4 || st.Ended != 4 || st.Rules != 1 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestListenNeverBlocks(t *testing.T) {
	store := &recorder{rules: []*cityops.AlarmRule{riverRule()}}
	e := New(store, Options{Queue: 10, Logger: quiet})
	done := make(chan struct{})
	go func() {
		// Nothing evaluates yet: the queue fills up.
		e.Listen(readings(gauge1, 0, 1, 2, 3, 4, 5, 6))
		e.Listen(readings(gauge1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Listen blocked on a full queue")
	}
	if got := e.Stats().Dropped; got != 5 {
		t.Errorf("dropped: got %d, want 5", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	flush(t, e)
	// The first ten were kept: 4 > 3.5 raised.
	if got, want := strings.Join(store.take(), "; "), "raise river-high "+gauge1+" 4"; got != want {
		t.Errorf("calls: got %s, want %s", got, want)
	}
	if st := e.Stats(); st.Changes != 10 || st.Dropped != 5 {
		t.Errorf("stats: %+v", st)
	}
	// Once the rules are loaded, changes of types no rule watches are not
	// queued at all.
	air := readings("urn:ngsi-ld:AirQualityObserved:1", 20, 9)
	air[0].Type = "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
	e.Listen(air)
	flush(t, e)
	if st := e.Stats(); st.Changes != 10 || st.Dropped != 5 {
		t.Errorf("stats after another type: %+v", st)
	}
}

func TestFlushWaitsForTheStore(t *testing.T) {
	store := &recorder{rules: []*cityops.AlarmRule{riverRule()}, delay: 50 * time.Millisecond}
	e := start(t, store, Options{})
	e.Listen(readings(gauge1, 0, 4, 3))
	flush(t, e)
	if got := len(store.take()); got != 2 {
		t.Errorf("calls when Flush returned: got %d, want 2", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Listen(readings(gauge1, 5, 4))
	if err := e.Flush(ctx); !errors.Is(err, context.Canceled) && err != nil {
		t.Errorf("Flush with an ended context: %v", err)
	}
}

func TestStoreFailures(t *testing.T) {
	store := &recorder{rules: []*cityops.AlarmRule{riverRule()}, fail: 2}
	e := start(t, store, Options{})
	e.Listen(readings(gauge1, 0, 4))
	flush(t, e)
	want := []string{"failed raise river-high " + gauge1 + " 4", "failed raise river-high " + gauge1 + " 4", "raise river-high " + gauge1 + " 4"}
	if got := store.take(); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("retried: got %q, want %q", got, want)
	}

	// A transition the Store keeps failing is given up; the condition is
	// sent again by the next reading that meets it.
	store.mu.Lock()
	store.fail = attempts
	store.mu.Unlock()
	e.Listen(readings(gauge1, 1, 3))
	flush(t, e)
	e.Listen(readings(gauge1, 2, 3.1))
	flush(t, e)
	got := store.take()
	if len(got) != attempts+1 || got[attempts] != "end river-high "+gauge1+" 3.1" {
		t.Errorf("after a lost end: got %q, want %d failures and the end again", got, attempts)
	}
	if st := e.Stats(); st.Failed != 1 || st.Raised != 1 || st.Ended != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestReloadKeepsState(t *testing.T) {
	count := &cityops.AlarmRule{Tenant: "hue", ID: 7, Code: "often-high", Name: "Often high", Severity: cityops.SeverityMinor, EntityType: gaugeType,
		Attr: levelAttr, Kind: cityops.RuleCount, Op: ">", Value: 3.5, Count: 3, WindowMinutes: 60, Enabled: true}
	river := riverRule()
	river.Severity = cityops.SeverityMajor
	store := &recorder{rules: []*cityops.AlarmRule{count, river}}
	e := start(t, store, Options{})
	e.Listen(readings(gauge1, 0, 4, 4)) // two hits; the river rule raises
	flush(t, e)
	if got, want := strings.Join(store.take(), "; "), "raise river-high "+gauge1+" 4"; got != want {
		t.Errorf("calls: got %s, want %s", got, want)
	}

	// A new severity keeps the count's state; the river rule's new value
	// starts it afresh, and a disabled rule is left out.
	kept, changed, off := *count, *river, *riverRule()
	kept.Severity = cityops.SeverityMajor
	changed.Value, changed.Clear = 4.5, ptr(4)
	off.ID, off.Code, off.Enabled = 9, "off", false
	store.setRules(&kept, &changed, &off)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Listen(readings(gauge1, 2, 4.6))
	flush(t, e)
	got := store.take()
	want := []string{"raise often-high " + gauge1 + " 4.6", "raise river-high " + gauge1 + " 4.6"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("after Reload: got %q, want %q", got, want)
	}
	if got := e.Stats().Rules; got != 2 {
		t.Errorf("rules: got %d, want 2", got)
	}

	// Invalid rules are skipped.
	bad := kept
	bad.ID, bad.Code, bad.Op = 10, "bad", "=="
	store.setRules(&kept, &bad)
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Rules; got != 1 {
		t.Errorf("rules with an invalid one: got %d, want 1", got)
	}
}

func TestSilenceSeededAndTicked(t *testing.T) {
	silent := &cityops.AlarmRule{Tenant: "hue", ID: 3, Code: "gauge-silent", Name: "Gauge silent", Severity: cityops.SeverityWarning,
		EntityType: gaugeType, Kind: cityops.RuleSilent, WindowMinutes: 30, Enabled: true}
	lat, lon := 16.45, 107.55
	store := &recorder{rules: []*cityops.AlarmRule{silent}, seen: map[string][]cityops.EntitySeen{
		gaugeType: {{Tenant: "hue", ID: gauge1, Type: gaugeType, At: at(0), Lat: &lat, Lon: &lon}},
	}}
	var mu sync.Mutex
	now := at(10)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	e := start(t, store, Options{Now: clock, Tick: 5 * time.Millisecond})
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		var got []string
		for time.Now().Before(deadline) {
			got = append(got, store.take()...)
			if strings.Join(got, "; ") == want {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("calls: got %q, want %q", got, want)
	}
	time.Sleep(30 * time.Millisecond) // a few ticks: 10 minutes is not silent yet
	if got := store.take(); len(got) != 0 {
		t.Errorf("before the window: %q", got)
	}
	mu.Lock()
	now = at(31)
	mu.Unlock()
	waitFor("raise gauge-silent " + gauge1 + " 31")
	e.Listen(readings(gauge1, 40, 3))
	flush(t, e)
	waitFor("end gauge-silent " + gauge1 + " 40")
}

// TestRunFailsWithoutRules checks that Run reports rules it cannot load.
func TestRunFailsWithoutRules(t *testing.T) {
	e := New(&failing{}, Options{Logger: quiet})
	if err := e.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("Run: got %v, want the Store's error", err)
	}
}

type failing struct{ recorder }

func (*failing) AlarmRules(ctx context.Context) ([]*cityops.AlarmRule, error) {
	return nil, errors.New("no database")
}

// TestPreviewedSkipped: a reading evaluated as it arrived (a preview) is
// not evaluated again when its write is committed (marked Previewed);
// and evaluating one twice, as a batch mixing previewed and other
// readings does, changes nothing.
func TestPreviewedSkipped(t *testing.T) {
	store := &recorder{rules: []*cityops.AlarmRule{riverRule()}}
	e := start(t, store, Options{})
	high := readings(gauge1, 0, 3.6)
	e.Listen(high) // the preview
	committed := append([]cityops.EntityChange(nil), high...)
	committed[0].Previewed = true
	e.Listen(committed)
	e.Listen(high) // committed again, unmarked: the same reading
	low := readings(gauge1, 1, 3.2)
	e.Listen(low)
	flush(t, e)
	got := strings.Join(store.take(), "\n")
	want := "raise river-high " + gauge1 + " 3.6\nend river-high " + gauge1 + " 3.2"
	if got != want {
		t.Errorf("calls:\n%s\nwant:\n%s", got, want)
	}
	if st := e.Stats(); st.Changes != 3 {
		t.Errorf("%d changes evaluated, want 3 (the marked one skipped)", st.Changes)
	}
}

// batchRecorder is a recorder that also takes transitions in batches,
// as storage.DB does; every call (a batch, or a transition on its own)
// is one round trip, which takes trip.
type batchRecorder struct {
	recorder
	trip  time.Duration
	trips int
}

func (s *batchRecorder) roundTrip() {
	time.Sleep(s.trip)
	s.mu.Lock()
	s.trips++
	s.mu.Unlock()
}

func (s *batchRecorder) RaiseAlarm(ctx context.Context, in *cityops.AlarmRaise) (*cityops.Alarm, error) {
	s.roundTrip()
	return s.recorder.RaiseAlarm(ctx, in)
}

func (s *batchRecorder) EndAlarmCondition(ctx context.Context, rule, tenant, entityID string, value float64) (*cityops.Alarm, error) {
	s.roundTrip()
	return s.recorder.EndAlarmCondition(ctx, rule, tenant, entityID, value)
}

func (s *batchRecorder) ApplyAlarmTransitions(ctx context.Context, ts []cityops.AlarmTransition) ([]error, error) {
	s.roundTrip()
	errs := make([]error, len(ts))
	for i, tr := range ts {
		if tr.Raise != nil {
			_, errs[i] = s.recorder.RaiseAlarm(ctx, tr.Raise)
		} else {
			_, errs[i] = s.recorder.EndAlarmCondition(ctx, tr.End.Rule, tr.End.Tenant, tr.End.EntityID, tr.End.Value)
		}
	}
	return errs, nil
}

// TestTransitionsWrittenTogether: transitions of readings listened to
// one at a time (as previews arrive) while the store is busy are written
// together in the next round trip, not one round trip each.
func TestTransitionsWrittenTogether(t *testing.T) {
	store := &batchRecorder{recorder: recorder{rules: []*cityops.AlarmRule{riverRule()}}, trip: 30 * time.Millisecond}
	e := start(t, store, Options{})
	vs := []float64{3.6, 3.2, 3.7, 3.1, 3.8, 3.0, 3.9, 3.2, 3.6, 3.1}
	for _, c := range readings(gauge1, 0, vs...) {
		e.Listen([]cityops.EntityChange{c})
		time.Sleep(time.Millisecond) // each evaluated on its own
	}
	flush(t, e)
	if n := len(store.take()); n != len(vs) {
		t.Fatalf("%d transitions written, want %d", n, len(vs))
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.trips > 3 {
		t.Errorf("%d round trips to the store for %d transitions listened to one at a time; want them written together", store.trips, len(vs))
	}
}
