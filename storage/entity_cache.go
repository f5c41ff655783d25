package storage

import (
	"sync"
	"time"

	"github.com/cityops/cityops"
)

// entityCache keeps the stored state of entities that batches wrote, so
// that the next batch of the same entities (a sensor's next reading)
// neither reads nor decodes them: decoding the stored JSON was a tenth of
// the writer's time under MQTT ingestion. It serves only the process
// that ingests into SQLite (after DeferRollups), the single writer of
// its entities; every write of an entity outside a batch forgets it, and
// a batch's states enter the cache when its transaction commits.
// PostgreSQL may have several writing processes and does not use it.
//
// Entries share their instances (the attribute maps) with the entity the
// batch wrote and its listeners: those are never changed once written.
// Each reader gets its own map and lists over them.
type entityCache struct {
	mu sync.Mutex
	m  map[cacheKey]cachedEntity
}

// maxCachedEntities bounds the cache; past it, arbitrary entries go.
const maxCachedEntities = 20_000

type cacheKey struct{ tenant, id string }

type cachedEntity struct {
	pk      int64
	typ     string
	created time.Time
	attrs   map[string][]cityops.Attr
}

// get moves the cached ones among ids into out (as loadEntities returns
// them) and returns the others.
func (c *entityCache) get(tenant string, ids []string, out map[string]*entityRow) (miss []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		ce, ok := c.m[cacheKey{tenant, id}]
		if !ok {
			miss = append(miss, id)
			continue
		}
		out[id] = &entityRow{pk: ce.pk, e: &cityops.Entity{ID: id, Type: ce.typ, Tenant: tenant, CreatedAt: ce.created, Attrs: copyAttrs(ce.attrs)}}
	}
	return miss
}

// put keeps committed states.
func (c *entityCache) put(rows []*entityRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[cacheKey]cachedEntity{}
	}
	for _, r := range rows {
		k := cacheKey{r.e.Tenant, r.e.ID}
		if _, ok := c.m[k]; !ok && len(c.m) >= maxCachedEntities {
			for old := range c.m {
				delete(c.m, old)
				break
			}
		}
		c.m[k] = cachedEntity{pk: r.pk, typ: r.e.Type, created: r.e.CreatedAt, attrs: copyAttrs(r.e.Attrs)}
	}
}

// preview returns the entity as writing e would leave it (e's instances
// over the cached ones, the newest observed kept), if it is cached with
// e's type.
func (c *entityCache) preview(e *cityops.Entity) (*cityops.Entity, bool) {
	c.mu.Lock()
	ce, ok := c.m[cacheKey{e.Tenant, e.ID}]
	c.mu.Unlock()
	if !ok || ce.typ != e.Type {
		return nil, false
	}
	full := &cityops.Entity{ID: e.ID, Type: e.Type, Tenant: e.Tenant, CreatedAt: ce.created, Attrs: copyAttrs(ce.attrs)}
	for name, l := range e.Attrs {
		full.Attrs[name] = mergeNewest(full.Attrs[name], l, true)
	}
	return full, true
}

// forget drops an entity written other than by a batch.
func (c *entityCache) forget(tenant, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey{tenant, id})
}

// forgetEntity drops an entity written other than by a batch, from the
// cache and from the states this transaction would cache.
func (tx *Tx) forgetEntity(tenant, id string) {
	tx.db.entities.forget(tenant, id)
	kept := tx.cached[:0]
	for _, r := range tx.cached {
		if r.e.Tenant != tenant || r.e.ID != id {
			kept = append(kept, r)
		}
	}
	tx.cached = kept
}

// cacheEntities queues a batch's written states for the cache, which
// takes them if the transaction commits.
func (tx *Tx) cacheEntities(rows []*entityRow) {
	if tx.db.ingesting() {
		tx.cached = append(tx.cached, rows...)
	}
}
