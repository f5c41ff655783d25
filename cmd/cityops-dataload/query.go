package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
)

// queryAttrs is how many attributes each of the query scenario's entities
// has: a name and four numbers.
const queryAttrs = 5

// queryShape is one kind of entity query the query scenario times.
type queryShape struct {
	label string
	q     func(rng *rand.Rand) string // the q parameter; nil for none
	count bool                        // with count=true
	want  int                         // the matching entities
}

// queryShapes are the timed queries: the type alone (the indexed path),
// a selective and an unselective numeric filter, and an exact name, each
// without count=true and, with counts, with it, 20 per page.
func queryShapes(n int, counts bool) []queryShape {
	var over80, both int
	for i := range n {
		q := queryNumbers(i)
		if q.pm25 > 80 {
			over80++
		}
		if q.pm25 > 20 && q.no2 < 40 {
			both++
		}
	}
	fixed := func(s string) func(*rand.Rand) string { return func(*rand.Rand) string { return s } }
	name := func(rng *rand.Rand) string { return `name=="` + queryNumbers(rng.IntN(n)).name + `"` }
	var out []queryShape
	kinds := []bool{false, true}
	if !counts {
		kinds = kinds[:1]
	}
	for _, count := range kinds {
		out = append(out,
			queryShape{"type only", nil, count, n},
			queryShape{"pm25>80", fixed("pm25>80"), count, over80},
			queryShape{"pm25>20;no2<40", fixed("pm25>20;no2<40"), count, both},
			queryShape{`name=="Station …"`, name, count, 1},
		)
	}
	return out
}

// path is the shape's request, with a fresh q value where it varies.
func (sh *queryShape) path(rng *rand.Rand) string {
	v := url.Values{"type": {entityType}, "limit": {"20"}}
	if sh.q != nil {
		v.Set("q", sh.q(rng))
	}
	if sh.count {
		v.Set("count", "true")
	}
	return "/ngsi-ld/v1/entities?" + v.Encode()
}

// check says what is wrong with an answer to the shape, if anything: the
// page must hold min(20, matches) entities and the count must be right.
func (sh *queryShape) check(rep *reply) string {
	if rep.Status != http.StatusOK {
		return statusKind(rep)
	}
	var page []json.RawMessage
	if err := json.Unmarshal(rep.Body, &page); err != nil {
		return "200 with a body that is not a JSON array"
	}
	if want := min(20, sh.want); len(page) != want {
		return fmt.Sprintf("wrong page: %d entities, want %d", len(page), want)
	}
	if sh.count {
		if got := rep.Header.Get("NGSILD-Results-Count"); got != strconv.Itoa(sh.want) {
			return fmt.Sprintf("wrong count: NGSILD-Results-Count %q, want %d", got, sh.want)
		}
	}
	return ""
}

// String names the shape in the report.
func (sh *queryShape) String() string {
	s := sh.label + ", limit 20"
	if sh.count {
		s += ", count=true"
	}
	return s
}

// query loads entities of one type through the bulk path and times
// GET /ngsi-ld/v1/entities with a mix of query shapes from clients, each
// cycling through the shapes.
func (r *runner) query(ctx context.Context) (err error) {
	o := r.o
	n := o.entities
	clients := o.clientsFor("query")
	r.header("query: GET /ngsi-ld/v1/entities?type=…&q=…")
	s, err := r.newSession(ctx, "query")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	if err := s.start(ctx, clients); err != nil {
		return err
	}

	r.progress("query: loading %s entities", thousands(int64(n)))
	at := appendTime(nil, dataStart)
	per := max(1, o.request/queryAttrs)
	t0 := time.Now()
	var body []byte
	for i := 0; i < n; i += per {
		body = body[:0]
		for j := i; j < min(i+per, n); j++ {
			body = appendQueryEntity(body, j, at)
		}
		want := int64(min(per, n-i) * queryAttrs)
		if out := postObservations(ctx, s.api, body, want); out.Err != "" {
			return fmt.Errorf("loading the entities: %s", out.Err)
		}
	}
	took := time.Since(t0)
	r.printf("  setup       %s %s entities (name, pm25, pm10, no2, o3) loaded through %s in %.1f s, %s observations/s (not measured)\n",
		thousands(int64(n)), entityType, bulkPath, took.Seconds(), rate(float64(n*queryAttrs)/took.Seconds()))

	shapes := queryShapes(n, o.counts)
	r.printf("  load        %d clients, closed loop, each cycling through %d query shapes, %s; a query times out after %s\n",
		clients, len(shapes), o.duration, queryTimeout)
	qapi, err := newAPI(s.srv.URL, s.key, s.tenant, clients, queryTimeout)
	if err != nil {
		return err
	}
	defer qapi.Close()
	rngs := make([]*rand.Rand, clients)
	turns := make([]int, clients)
	for i := range rngs {
		rngs[i] = rand.New(rand.NewPCG(uint64(i), 42))
	}
	var wrong atomic.Int64
	r.progress("query: measuring for %s", o.duration)
	s.startCPU()
	t, lerr := closedLoop(ctx, clients, o.duration, func(el time.Duration, k int64) {
		r.progress("query: %.0f s, %s queries answered", el.Seconds(), thousands(k))
	}, func(ctx context.Context, w int) outcome {
		k := (w + turns[w]) % len(shapes)
		turns[w]++
		sh := &shapes[k]
		rep, err := qapi.Do(ctx, http.MethodGet, sh.path(rngs[w]), "", nil)
		if err != nil {
			return outcome{Key: k, Err: errorKind(err)}
		}
		if rep.Status != http.StatusOK {
			return outcome{Key: k, Err: statusKind(rep)}
		}
		if kind := sh.check(rep); kind != "" {
			wrong.Add(1)
			return outcome{Key: k, Err: "wrong answer to " + sh.String() + ": " + kind}
		}
		return outcome{Key: k, Units: 1}
	})
	cpu := s.cpu.String()
	r.printf("  queries     %s answered in %.2f s (%.1f/s)\n", thousands(t.Good), t.Elapsed.Seconds(), t.Rate())
	r.printf("  errors      %s\n", errorsText(t.Errors))
	r.printf("  latency     per shape, over every request: a failed one counts with the time it took to fail\n")
	r.printf("  %-44s %8s %5s %6s %11s %11s %11s\n", "shape", "matches", "n", "failed", "p50", "p95", "p99")
	worst, worstShape := time.Duration(-1), ""
	for k := range shapes {
		sh := &shapes[k]
		lat := slices.Concat(t.Lat[k], t.ErrLat[k])
		slices.Sort(lat)
		r.printf("  %-44s %8s %5d %6d %11s %11s %11s\n", sh.String(), thousands(int64(sh.want)), len(lat), len(t.ErrLat[k]),
			ms(loadtool.Quantile(lat, 500)), ms(loadtool.Quantile(lat, 950)), ms(loadtool.Quantile(lat, 990)))
		p := loadtool.Quantile(lat, 950)
		if len(lat) == 0 {
			p = time.Duration(math.MaxInt64) // not one answer in the whole run
		}
		if p > worst {
			worst, worstShape = p, sh.String()
		}
	}
	r.printf("  cpu         %s\n", cpu)
	if lerr != nil {
		return lerr
	}
	if wrong.Load() > 0 {
		return fmt.Errorf("%d queries were answered wrongly (see errors)", wrong.Load())
	}
	if t.Good == 0 {
		return errors.New("no query was answered")
	}
	measured := "worst p95 " + ms(worst) + " (" + worstShape + ")"
	if worst == time.Duration(math.MaxInt64) {
		measured = "no request of " + worstShape + " finished"
	}
	r.target("query", fmt.Sprintf("p95 < %s for every shape, %s entities, %d clients", ms(targetQueryP95), thousands(int64(n)), clients),
		measured, worst < targetQueryP95)
	return nil
}
