package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// timeKeys are the attributes that change every tick without the state
// changing; Stream ignores them (and every observedAt) when it decides
// whether an entity changed.
var timeKeys = map[string]bool{
	"dateObserved": true, "dateObservedFrom": true, "dateObservedTo": true,
	"observationDateTime": true, "updatedAt": true,
}

// fingerprint is an entity's state without its timestamps.
func fingerprint(e Entity) (string, error) {
	bare := make(map[string]any, len(e))
	for k, v := range e {
		if timeKeys[k] {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			if _, has := m["observedAt"]; has {
				c := make(map[string]any, len(m))
				for mk, mv := range m {
					if mk != "observedAt" {
						c[mk] = mv
					}
				}
				v = c
			}
		}
		bare[k] = v
	}
	b, err := json.Marshal(bare)
	return string(b), err
}

// Stream plays the city from simulated time `from`, advancing `every` per
// tick, with speed simulated seconds per real second (1 is real time, 60
// turns a minute into a second). The first tick emits every entity; later
// ticks emit only the entities whose state changed, and skip emit when
// nothing did. Simulated time is from + n×every exactly, whatever the
// scheduling jitter. Stream returns emit's first error, or ctx.Err() once
// ctx is done.
func (g *Generator) Stream(ctx context.Context, from time.Time, every time.Duration, speed float64, emit func([]Entity) error) error {
	if every <= 0 {
		return errors.New("simulate: Stream needs a positive step")
	}
	if !(speed > 0) {
		return errors.New("simulate: Stream needs a positive speed")
	}
	interval := time.Duration(float64(every) / speed)
	if interval < time.Millisecond {
		interval = time.Millisecond
	}
	last := make(map[string]string, len(g.sites))
	step := func(t time.Time) error {
		var changed []Entity
		for _, e := range g.At(t) {
			fp, err := fingerprint(e)
			if err != nil {
				return err
			}
			id := e["id"].(string)
			if last[id] != fp {
				last[id] = fp
				changed = append(changed, e)
			}
		}
		if len(changed) == 0 {
			return nil
		}
		return emit(changed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := step(from); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := step(from.Add(time.Duration(n) * every)); err != nil {
			return err
		}
	}
}
