package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cityops/cityops/internal/loadtool"
	"github.com/cityops/cityops/storage"
)

// maxFailuresInRow stops the history scenario when the server keeps
// failing: the rate of a broken server is not worth hours.
const maxFailuresInRow = 10

// historyMark is the rate over one window, printed as it completes.
type historyMark struct {
	stored  int64         // observations stored at the end of the window
	rate    float64       // observations/s within the window
	elapsed time.Duration // since the start
}

// steadyWindows is how many windows at each end the medians compare: one
// window may fall on a moment when other processes take the cores.
const steadyWindows = 5

// history bulk-loads observations until -n are stored, printing the rate
// over every window of -window observations as it completes, with the
// total stored and the database's size, so that the rate at 1 M can be
// compared with the rate at 50 M. Ctrl-C ends it early; what was measured
// is printed all the same.
func (r *runner) history(ctx context.Context) (err error) {
	o := r.o
	clients := o.clientsFor("history")
	st := r.bulkStream("hue-")
	minutes := minutesPerRequest(st, o.request)
	totalMinutes := (o.total + st.perMinute() - 1) / st.perMinute()
	r.header("history: ingest rate as history grows, POST " + bulkPath)
	r.printf("  data        %s stations × %v, a reading a minute each; %s\n", thousands(int64(st.stations)), st.attrs, formatText(st))
	r.printf("  load        %d clients, closed loop, requests of %s observations, until %s are stored; the rate every %s\n",
		clients, thousands(minutes*st.perMinute()), thousands(totalMinutes*st.perMinute()), thousands(o.window))
	s, err := r.newSession(ctx, "history")
	if err != nil {
		return err
	}
	defer s.finish(&err)
	var pg *storage.DB
	if o.dsn != "" {
		if pg, err = storage.Open(ctx, o.dsn, s.dir); err != nil {
			return err
		}
		defer pg.Close()
	}
	if err := s.start(ctx, clients); err != nil {
		return err
	}
	r.printf("  disk        at start: %s\n", s.diskText(ctx, pg))
	r.printf("  %14s %16s %10s %14s %12s %8s\n", "stored", "window obs/s", "elapsed", "database", "cityops cpu", "load 1m")

	var (
		next      atomic.Int64 // the next minute to send
		storedNow atomic.Int64
		mu        sync.Mutex // guards what follows
		stored    int64
		marks     []historyMark
		errs      = map[string]int64{}
		inRow     int
		lastN     int64
		lastT     time.Time
		lastCPU   float64
		nextMark  = o.window
		stop      = make(chan struct{})
		stopOnce  sync.Once
	)
	abort := func() { stopOnce.Do(func() { close(stop) }) }
	start := time.Now()
	lastT = start
	lastCPU, _ = loadtool.CPUSeconds(s.srv.Pid())
	record := func(out outcome) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if out.Err != "" {
			if _, ok := errs[out.Err]; ok || len(errs) < loadtool.MaxErrorKinds {
				errs[out.Err]++
			}
		}
		if out.Units == 0 {
			if inRow++; inRow >= maxFailuresInRow {
				abort()
			}
			return
		}
		inRow = 0
		stored += out.Units
		storedNow.Store(stored)
		if stored < nextMark {
			return
		}
		m := historyMark{stored: stored, rate: float64(stored-lastN) / now.Sub(lastT).Seconds(), elapsed: now.Sub(start)}
		marks = append(marks, m)
		cpu := "?"
		if c, ok := loadtool.CPUSeconds(s.srv.Pid()); ok {
			cpu = fmt.Sprintf("%.2f cores", (c-lastCPU)/now.Sub(lastT).Seconds())
			lastCPU = c
		}
		r.printf("  %14s %16s %9.1fs %14s %12s %8s\n", thousands(m.stored), rate(m.rate), m.elapsed.Seconds(), s.dbSizeText(ctx, pg), cpu, loadtool.LoadAverage1())
		lastN, lastT = stored, now
		nextMark = (stored/o.window + 1) * o.window
	}
	done := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n := storedNow.Load()
				r.progress("history: %s of %s stored, %.0f s, %s/s on average", thousands(n), thousands(o.total), time.Since(start).Seconds(),
					rate(float64(n)/time.Since(start).Seconds()))
			}
		}
	})
	var wg sync.WaitGroup
	bufs := make([][]byte, clients)
	for w := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				select {
				case <-stop:
					return
				case <-s.srv.Exited():
					abort()
					return
				default:
				}
				m0 := next.Add(minutes) - minutes
				if m0 >= totalMinutes {
					return
				}
				m1 := min(m0+minutes, totalMinutes)
				bufs[w] = st.appendMinutes(bufs[w][:0], m0, m1)
				out := postObservations(ctx, s.api, bufs[w], (m1-m0)*st.perMinute())
				if ctx.Err() != nil {
					return // cut short: not counted
				}
				record(out)
			}
		})
	}
	wg.Wait()
	close(done)
	pwg.Wait()
	elapsed := time.Since(start)

	mu.Lock()
	defer mu.Unlock()
	r.printf("  total       %s observations stored in %.1f s (%s/s overall); errors %s\n",
		thousands(stored), elapsed.Seconds(), rate(float64(stored)/elapsed.Seconds()), errorsText(errs))
	r.printf("  disk        at end: %s\n", s.diskText(context.Background(), pg))
	if stored > lastN && len(marks) > 0 {
		r.printf("  partial     %s observations after the last window, %s/s\n", thousands(stored-lastN), rate(float64(stored-lastN)/time.Since(lastT).Seconds()))
	}
	switch {
	case len(marks) == 1:
		r.printf("  first       window to %s: %s observations/s; no later window to compare\n", thousands(marks[0].stored), rate(marks[0].rate))
	case len(marks) >= 2:
		first, last := marks[0], marks[len(marks)-1]
		ratio := last.rate / first.rate
		r.printf("  first       window to %s: %s observations/s\n", thousands(first.stored), rate(first.rate))
		r.printf("  last        window to %s: %s observations/s\n", thousands(last.stored), rate(last.rate))
		r.printf("  ratio       last/first = %.2f\n", ratio)
		measured := fmt.Sprintf("%s obs/s at %s, %s obs/s at %s (ratio %.2f)", rate(first.rate), thousands(first.stored), rate(last.rate), thousands(last.stored), ratio)
		if k := steadyWindows; len(marks) >= 2*k {
			lo, hi := medianRate(marks[:k]), medianRate(marks[len(marks)-k:])
			r.printf("  steadier    median of the first %d windows %s/s, of the last %d %s/s: ratio %.2f\n", k, rate(lo), k, rate(hi), hi/lo)
			measured += fmt.Sprintf("; medians of the first and last %d windows %s and %s obs/s (ratio %.2f)", k, rate(lo), rate(hi), hi/lo)
		}
		r.results = append(r.results, result{"history", "none set: the ingest rate as history grows", measured, "—"})
	default:
		r.printf("  ratio       no window completed\n")
	}
	select {
	case <-s.srv.Exited():
		return fmt.Errorf("cityops exited during the run (%v)\n%s", s.srv.WaitErr(), loadtool.LogTail(s.log, 10))
	default:
	}
	if inRow >= maxFailuresInRow {
		return fmt.Errorf("stopped after %d failed requests in a row", inRow)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if stored == 0 {
		return errors.New("no observation was stored")
	}
	return nil
}

// dbSizeText is the size of the database: for SQLite its file and
// write-ahead log, for PostgreSQL pg_database_size.
func (s *session) dbSizeText(ctx context.Context, pg *storage.DB) string {
	if pg != nil {
		var n int64
		if err := pg.SQL().QueryRowContext(ctx, `select pg_database_size(current_database())`).Scan(&n); err != nil {
			return "?"
		}
		return bytesText(uint64(n))
	}
	var n int64
	for _, f := range []string{"cityops.db", "cityops.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
			n += st.Size()
		}
	}
	return bytesText(uint64(n))
}

// diskText is what df and du say: the data directory's size and the free
// space on its filesystem, and for PostgreSQL the database's size.
func (s *session) diskText(ctx context.Context, pg *storage.DB) string {
	var du int64
	filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				du += info.Size()
			}
		}
		return nil
	})
	txt := fmt.Sprintf("data directory %s (%s)", s.dir, bytesText(uint64(du)))
	if pg != nil {
		txt += "; PostgreSQL database " + s.dbSizeText(ctx, pg)
	} else {
		txt += "; database " + s.dbSizeText(ctx, pg)
	}
	if size, avail, ok := filesystemSpace(s.dir); ok {
		txt += fmt.Sprintf("; filesystem %s free of %s (%.0f%% used)", bytesText(avail), bytesText(size), 100-100*float64(avail)/float64(size))
	}
	return txt
}

// medianRate is the median rate of some windows.
func medianRate(marks []historyMark) float64 {
	rates := make([]float64, len(marks))
	for i, m := range marks {
		rates[i] = m.rate
	}
	slices.Sort(rates)
	if n := len(rates); n%2 == 0 {
		return (rates[n/2-1] + rates[n/2]) / 2
	}
	return rates[len(rates)/2]
}
