package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// upsertPath is the NGSI-LD batch upsert.
const upsertPath = "/ngsi-ld/v1/entityOperations/upsert"

// upsert measures POST /ngsi-ld/v1/entityOperations/upsert: clients send
// batches of stations, each update new pm25 and no2 values with a new
// observedAt (so each also goes into history), round-robin over the
// stations so that concurrent batches touch different entities.
func (r *runner) upsert(ctx context.Context) (err error) {
	o := r.o
	stations := o.stations
	if stations == 0 {
		stations = 10_000
	}
	clients := o.clientsFor("upsert")
	r.header("upsert: POST " + upsertPath)
	s, err := r.newSession(ctx, "upsert")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	if err := s.start(ctx, clients); err != nil {
		return err
	}

	var next atomic.Int64 // the next update's number
	bufs := make([][]byte, clients)
	send := func(ctx context.Context, worker int) outcome {
		first := next.Add(int64(o.batch)) - int64(o.batch)
		bufs[worker] = appendUpsertBatch(bufs[worker][:0], first, o.batch, stations, o.attrs)
		rep, err := s.api.Do(ctx, http.MethodPost, upsertPath, "application/json", bufs[worker])
		if err != nil {
			return outcome{Err: errorKind(err)}
		}
		switch rep.Status {
		case http.StatusNoContent:
			return outcome{Units: int64(o.batch)}
		case http.StatusMultiStatus:
			var res struct {
				Success []string `json:"success"`
				Errors  []struct {
					Error struct {
						Detail string `json:"detail"`
					} `json:"error"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(rep.Body, &res); err != nil {
				return outcome{Err: "207 that is not JSON"}
			}
			kind := "207: entities refused"
			if len(res.Errors) > 0 {
				kind += ": " + res.Errors[0].Error.Detail
			}
			return outcome{Units: int64(len(res.Success)), Failed: int64(len(res.Errors)), Err: kind}
		}
		return outcome{Err: statusKind(rep)}
	}

	// Setup, not measured: one round creates every station.
	r.progress("upsert: creating %s stations", thousands(int64(stations)))
	t0 := time.Now()
	for next.Load() < int64(stations) {
		if out := send(ctx, 0); out.Err != "" {
			return fmt.Errorf("creating the stations: %s", out.Err)
		}
	}
	r.printf("  setup       %s %s stations created in %d batches of %d, %.1f s (not measured)\n",
		thousands(int64(stations)), entityType, (stations+o.batch-1)/o.batch, o.batch, time.Since(t0).Seconds())
	r.printf("  load        %d clients, closed loop, batches of %d entities, each update new %v values with a new observedAt (kept in history), %s\n",
		clients, o.batch, readingAttrs[:o.attrs], o.duration)

	r.progress("upsert: measuring for %s", o.duration)
	s.startCPU()
	t, lerr := closedLoop(ctx, clients, o.duration, func(el time.Duration, n int64) {
		r.progress("upsert: %.0f s, %s updates (%s/s)", el.Seconds(), thousands(n), rate(float64(n)/el.Seconds()))
	}, send)
	cpu := s.cpu.String()
	lat := t.Lat[0]
	r.printf("  batches     %s sent, %s stored (in whole or part) in %.2f s\n", thousands(t.Requests), thousands(t.Good), t.Elapsed.Seconds())
	r.printf("  errors      %s; entities refused in answered batches: %s\n", errorsText(t.Errors), thousands(t.Failed))
	r.printf("  updates     %s entity updates = %s updates/s\n", thousands(t.Units), rate(t.Rate()))
	r.printf("  latency     batch p50 %s, p99 %s, max %s (%s batches)\n", ms(loadtool.Quantile(lat, 500)), ms(loadtool.Quantile(lat, 990)), ms(loadtool.Quantile(lat, 1000)), thousands(int64(len(lat))))
	r.printf("  cpu         %s\n", cpu)
	if lerr != nil {
		return lerr
	}
	if t.Units == 0 {
		return fmt.Errorf("no entity was updated")
	}
	// The stations are all there, and no more.
	rep, err := s.api.Do(ctx, http.MethodGet, "/ngsi-ld/v1/entities?type="+entityType+"&count=true&limit=0", "", nil)
	if err != nil {
		return fmt.Errorf("counting the stations: %w", err)
	}
	if n := rep.Header.Get("NGSILD-Results-Count"); rep.Status != http.StatusOK || n != strconv.Itoa(stations) {
		return fmt.Errorf("the server counts %q stations (%s), want %d", n, statusKind(rep), stations)
	}
	r.printf("  check       %s stations stored\n", thousands(int64(stations)))
	r.target("upsert", fmt.Sprintf("≥ %s entity updates/s (batches of %d, history kept)", rate(targetUpsertRate), o.batch),
		rate(t.Rate())+" updates/s, batch p99 "+ms(loadtool.Quantile(lat, 990)), t.Rate() >= targetUpsertRate)
	return nil
}
