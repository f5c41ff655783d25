package storage

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// entityGroups commits entity batches that arrive together in one
// transaction, as intake does for reports: concurrent NGSI-LD batch
// upserts, bulk observations and device measurements share the commit's
// fsync and the multi-row statements. Each caller waits for the commit
// that holds its batch, so what it is told is stored is durable. A group
// that fails is retried batch by batch, so one batch's problem is not
// another's.
type entityGroups struct {
	db        *DB
	reqs      chan *entityReq
	stop      chan struct{}
	once      sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// maxGroupEntities bounds the entities of one group.
const maxGroupEntities = 5000

type entityReq struct {
	ctx     context.Context
	tenant  string
	list    []*cityops.Entity
	replace bool
	newest  bool
	done    chan entityRes
}

type entityRes struct {
	errs map[*cityops.Entity]error
	err  error
}

func newEntityGroups(d *DB) *entityGroups {
	return &entityGroups{db: d, reqs: make(chan *entityReq, 256), stop: make(chan struct{})}
}

func (g *entityGroups) submit(ctx context.Context, req *entityReq) (map[*cityops.Entity]error, error) {
	g.once.Do(func() {
		n := 1
		if g.db.dialect == Postgres {
			n = 4
		}
		for range n {
			g.wg.Add(1)
			go g.run()
		}
	})
	// In id order, so that concurrent transactions lock entities in the
	// same order and cannot deadlock each other.
	sort.SliceStable(req.list, func(i, j int) bool { return req.list[i].ID < req.list[j].ID })
	req.ctx, req.done = ctx, make(chan entityRes, 1)
	select {
	case g.reqs <- req:
	case <-g.stop:
		return nil, cityops.Errorf(cityops.EUNAVAILABLE, "shutting down")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the batch is committed or refused whatever the caller
	// does, so the answer is always waited for.
	res := <-req.done
	return res.errs, res.err
}

func (g *entityGroups) run() {
	defer g.wg.Done()
	for {
		var first *entityReq
		select {
		case first = <-g.reqs:
		case <-g.stop:
			for {
				select {
				case r := <-g.reqs:
					g.commit([]*entityReq{r})
				default:
					return
				}
			}
		}
		group, n := []*entityReq{first}, len(first.list)
	fill:
		for n < maxGroupEntities {
			select {
			case r := <-g.reqs:
				group, n = append(group, r), n+len(r.list)
			default:
				break fill
			}
		}
		// Batches of one kind (replace, newest, tenant) go together.
		kinds := map[entityKind][]*entityReq{}
		var order []entityKind
		for _, r := range group {
			k := entityKind{r.tenant, r.replace, r.newest}
			if kinds[k] == nil {
				order = append(order, k)
			}
			kinds[k] = append(kinds[k], r)
		}
		for _, k := range order {
			g.commit(kinds[k])
		}
	}
}

type entityKind struct {
	tenant          string
	replace, newest bool
}

// commit writes a group of batches of one kind in one transaction.
func (g *entityGroups) commit(group []*entityReq) {
	var live []*entityReq
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- entityRes{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	var list []*cityops.Entity
	for _, r := range live {
		list = append(list, r.list...)
	}
	if len(live) > 1 {
		// Keep each entity's writes in arrival order, across batches.
		sort.SliceStable(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	r0 := live[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs map[*cityops.Entity]error
	var err error
	for attempt := 0; ; attempt++ {
		errs = map[*cityops.Entity]error{}
		err = g.db.inTx(ctx, func(tx *Tx) error {
			return g.db.upsertBatch(ctx, tx, r0.tenant, list, r0.replace, r0.newest, errs)
		})
		if err == nil || !isRetryable(err) || attempt >= 3 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	if err != nil && len(live) > 1 {
		for _, r := range live {
			g.commit([]*entityReq{r})
		}
		return
	}
	for _, r := range live {
		res := entityRes{err: err, errs: map[*cityops.Entity]error{}}
		for _, e := range r.list {
			if eerr := errs[e]; eerr != nil {
				res.errs[e] = eerr
			}
		}
		r.done <- res
	}
}

// shutdown stops the committers after what was queued.
func (g *entityGroups) shutdown() {
	g.closeOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
}
