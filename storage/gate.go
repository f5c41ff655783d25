package storage

import (
	"context"
	"sync"
)

// moveGate lets readers of state kept in memory (roll-up sums, the
// history log's refs) read it consistently with the database while a
// transaction moves that state into rows: gen changes when a move begins
// and when it ends, and a reader whose copy and database reads straddle
// a move reads again. The owner's mutex guards it.
type moveGate struct {
	gen    uint64
	moving bool
	done   chan struct{} // closed when the move ends
}

// beginLocked marks a move as begun.
func (g *moveGate) beginLocked() {
	g.moving, g.done = true, make(chan struct{})
	g.gen++
}

// endLocked marks the move as ended.
func (g *moveGate) endLocked() {
	g.moving = false
	g.gen++
	close(g.done)
}

// copy runs read under mu once no move is in progress, waiting for one
// to end, and returns the generation for unchanged.
func (g *moveGate) copy(ctx context.Context, mu *sync.Mutex, read func()) (uint64, error) {
	for {
		mu.Lock()
		if !g.moving {
			read()
			gen := g.gen
			mu.Unlock()
			return gen, nil
		}
		wait := g.done
		mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// unchanged reports that no move began since copy returned gen.
func (g *moveGate) unchanged(mu *sync.Mutex, gen uint64) bool {
	mu.Lock()
	defer mu.Unlock()
	return !g.moving && g.gen == gen
}
