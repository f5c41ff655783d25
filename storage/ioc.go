package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/cityops/cityops"
)

var _ cityops.IOCService = (*DB)(nil)

// IOC limits.
const (
	iocDefaultPeriod = 30 * 24 * time.Hour
	iocDefaultCases  = 2000
	iocMaxCases      = 5000
	iocMaxCells      = 10_000
	iocMinCell       = 0.0005
	iocMaxCell       = 1.0
)

// iocConds is conditions on reports r, each with '?' for its arguments.
type iocConds []struct {
	cond string
	args []any
}

func (s *iocConds) add(cond string, args ...any) {
	*s = append(*s, struct {
		cond string
		args []any
	}{cond, args})
}

// in adds "col in (...)"; an empty list matches nothing.
func (s *iocConds) in(col string, ids []int64) {
	if len(ids) == 0 {
		s.add("1 = 0")
		return
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = "?", id
	}
	s.add(col+" in ("+strings.Join(ph, ", ")+")", args...)
}

// where returns the conditions numbered after fixed, a query's own first
// arguments ($1 … $len(fixed)).
func (s iocConds) where(fixed ...any) *where {
	w := &where{args: fixed}
	for _, c := range s {
		w.add(c.cond, c.args...)
	}
	return w
}

// andConds returns w's conditions as " and …", to follow a query's own.
func andConds(w *where) string {
	if len(w.conds) == 0 {
		return ""
	}
	return " and " + strings.Join(w.conds, " and ")
}

// iocScope checks that the actor in ctx may see the operations centre's
// figures and returns the conditions on reports r that every figure
// shares: the actor's scope and the filter's sector and area (EINVALID for
// an unknown one).
//
// Agency staff and agency API keys see the reports their agency leads.
// Unlike the inbox, the reports an agency supports do not count: these are
// handling figures, a report is handled by its lead agency, and counting
// it for its supporters too would count it twice in a breakdown. Ward
// officers without an agency see their area and the areas below it.
func (d *DB) iocScope(ctx context.Context, f cityops.IOCFilter) (iocConds, error) {
	if err := authorize(ctx, cityops.PermIOC); err != nil {
		return nil, err
	}
	var s iocConds
	var agency, area *string
	a := cityops.ActorFromContext(ctx)
	switch {
	case a.APIKey != nil && a.APIKey.Agency != "":
		agency = &a.APIKey.Agency
	case a.User != nil:
		switch a.User.Role {
		case cityops.RoleAgencyOfficer, cityops.RoleAgencyHead:
			agency = &a.User.AgencyCode
		case cityops.RoleWardOfficer:
			if a.User.AgencyCode != "" {
				agency = &a.User.AgencyCode
			} else {
				area = &a.User.AreaCode
			}
		}
	}
	if agency != nil {
		var id int64 // 0 for an unknown agency: no report matches
		err := d.db.QueryRowContext(ctx, `select id from agencies where code = $1`, *agency).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("ioc scope: %w", err)
		}
		s.add("r.agency_id = ?", id)
	}
	// The unary plus (the same number on both databases), here and for
	// the filter's area below, keeps SQLite off the index on (area_id,
	// received_at): through it SQLite would read every row of an area's
	// whole history to count the open ones, and every row of a month for
	// a district or the city, where the covering indexes of 0022 read the
	// month or the open reports from the index alone and filter there.
	if area != nil {
		ids, err := d.areaSubtree(ctx, *area)
		if err != nil {
			return nil, err
		}
		s.in("+r.area_id", ids)
	}
	if f.Sector != "" {
		var sector int64
		err := d.db.QueryRowContext(ctx, `select id from sectors where code = $1`, f.Sector).Scan(&sector)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"sector": fmt.Sprintf("unknown sector %q", f.Sector)}}
		}
		if err != nil {
			return nil, fmt.Errorf("ioc sector: %w", err)
		}
		// By category, so that no query needs to join them.
		ids, err := d.int64s(ctx, `select id from categories where sector_id = $1 order by id`, sector)
		if err != nil {
			return nil, fmt.Errorf("ioc sector: %w", err)
		}
		s.in("r.category_id", ids)
	}
	if f.Area != "" {
		ids, err := d.areaSubtree(ctx, f.Area)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
				Fields: map[string]string{"area": fmt.Sprintf("unknown area %q", f.Area)}}
		}
		s.in("+r.area_id", ids)
	}
	return s, nil
}

// areaSubtree returns the ids of the area with the code and of every area
// below it: none for an unknown code.
func (d *DB) areaSubtree(ctx context.Context, code string) ([]int64, error) {
	ids, err := d.int64s(ctx, `with recursive sub(id) as (select id from areas where code = $1
		union all select a2.id from areas a2 join sub on a2.parent_id = sub.id) select id from sub order by id`, code)
	if err != nil {
		return nil, fmt.Errorf("area %s: %w", code, err)
	}
	return ids, nil
}

// int64s runs a query of one integer column.
func (d *DB) int64s(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// iocPeriod returns the filter's period [Since, Until): Until is now and
// Since 30 days before Until when zero.
func iocPeriod(f cityops.IOCFilter, now time.Time) (since, until time.Time, err error) {
	until, since = f.Until, f.Since
	if until.IsZero() {
		until = now
	}
	if since.IsZero() {
		since = until.Add(-iocDefaultPeriod)
	}
	if !until.After(since) {
		return since, until, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"until": "must be after since"}}
	}
	return since.UTC(), until.UTC(), nil
}

// today returns the bounds of now's day in the city's time zone.
func (d *DB) today(now time.Time) (start, end time.Time) {
	l := now.In(d.Reports.Zone)
	start = time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, d.Reports.Zone)
	end = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, d.Reports.Zone)
	return start.UTC(), end.UTC()
}

// A tally is what a GROUP BY computes: for each distinct tuple of integer
// keys (tallyNull for NULL, at most four), how many rows have it and the
// sums and non-null counts of some integer values over those rows.
type tally map[tallyKey]*tallied

type tallyKey [4]int64

// tallyNull stands for NULL in a tallyKey.
const tallyNull = math.MinInt64

type tallied struct {
	n      int
	sums   [3]int64
	counts [3]int
}

// tally runs the row query q and tallies its rows by the columns keys,
// summing the columns values. PostgreSQL groups them itself. SQLite has
// no hash aggregation: its GROUP BY sorts the rows, about 0.7 µs a row
// here, and a month of a large city's reports is some 100,000 rows. On
// SQLite the aggregate function cityops_tally therefore groups them in a
// Go map inside the query, and returns the tally encoded.
func (d *DB) tally(ctx context.Context, q string, keys, values []string, args ...any) (tally, error) {
	if len(keys) == 0 || len(keys) > len(tallyKey{}) || len(values) > len(tallied{}.sums) {
		panic("tally: too many columns") // a bug in the caller
	}
	out := tally{}
	if d.dialect == SQLite {
		cols := append([]string{strconv.Itoa(len(keys))}, append(keys, values...)...)
		var b []byte
		err := d.db.QueryRowContext(ctx, `select cityops_tally(`+strings.Join(cols, ", ")+`) from (`+q+"\n) as t", args...).Scan(&b)
		if err != nil {
			return nil, err
		}
		return out, out.decode(b, len(keys), len(values))
	}
	cols := append([]string{}, keys...)
	group := make([]string, len(keys))
	for i := range keys {
		group[i] = strconv.Itoa(i + 1)
	}
	cols = append(cols, "count(*)")
	for _, v := range values {
		cols = append(cols, "coalesce(sum("+v+"), 0)", "count("+v+")")
	}
	rows, err := d.db.QueryContext(ctx, `select `+strings.Join(cols, ", ")+` from (`+q+"\n) as t group by "+strings.Join(group, ", "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	k := make([]sql.NullInt64, len(keys))
	dest := make([]any, 0, len(cols))
	for i := range k {
		dest = append(dest, &k[i])
	}
	var t tallied
	dest = append(dest, &t.n)
	for i := range values {
		dest = append(dest, &t.sums[i], &t.counts[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		key := tallyKey{tallyNull, tallyNull, tallyNull, tallyNull}
		for i, v := range k {
			if v.Valid {
				key[i] = v.Int64
			}
		}
		row := t
		out[key] = &row
	}
	return out, rows.Err()
}

// encode appends the tally: for each tuple its nkeys keys, count, and
// nvalues sums and counts, each as 8 bytes.
func (t tally) encode(nkeys, nvalues int) []byte {
	b := make([]byte, 0, len(t)*8*(nkeys+1+2*nvalues))
	for k, v := range t {
		for _, x := range k[:nkeys] {
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(v.n))
		for i := range nvalues {
			b = binary.LittleEndian.AppendUint64(b, uint64(v.sums[i]))
			b = binary.LittleEndian.AppendUint64(b, uint64(v.counts[i]))
		}
	}
	return b
}

func (t tally) decode(b []byte, nkeys, nvalues int) error {
	size := 8 * (nkeys + 1 + 2*nvalues)
	if len(b)%size != 0 {
		return fmt.Errorf("tally: %d bytes, not a multiple of %d", len(b), size)
	}
	next := func() int64 {
		x := int64(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return x
	}
	for len(b) > 0 {
		key := tallyKey{tallyNull, tallyNull, tallyNull, tallyNull}
		for i := range nkeys {
			key[i] = next()
		}
		v := &tallied{n: int(next())}
		for i := range nvalues {
			v.sums[i], v.counts[i] = next(), int(next())
		}
		t[key] = v
	}
	return nil
}

// tallyAgg is cityops_tally(nkeys, key…, value…), SQLite's aggregate for
// DB.tally.
type tallyAgg struct {
	t      tally
	nkeys  int
	nvalue int
}

func (a *tallyAgg) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if a.t == nil {
		n, ok := args[0].(int64)
		if !ok || n < 1 || int(n) > len(tallyKey{}) || len(args)-1-int(n) > len(tallied{}.sums) {
			return errors.New("cityops_tally: bad arguments")
		}
		a.t, a.nkeys, a.nvalue = tally{}, int(n), len(args)-1-int(n)
	}
	key := tallyKey{tallyNull, tallyNull, tallyNull, tallyNull}
	for i := range a.nkeys {
		v, null, err := sqlInt(args[1+i])
		if err != nil {
			return err
		}
		if !null {
			key[i] = v
		}
	}
	t := a.t[key]
	if t == nil {
		t = &tallied{}
		a.t[key] = t
	}
	t.n++
	for i := range a.nvalue {
		v, null, err := sqlInt(args[1+a.nkeys+i])
		if err != nil {
			return err
		}
		if !null {
			t.sums[i] += v
			t.counts[i]++
		}
	}
	return nil
}

func (a *tallyAgg) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return errors.New("cityops_tally: not a window function")
}

func (a *tallyAgg) WindowValue(*sqlite.FunctionContext) (driver.Value, error) {
	return a.t.encode(a.nkeys, a.nvalue), nil
}

func (a *tallyAgg) Final(*sqlite.FunctionContext) {}

// sqlInt converts an SQLite value that should be an integer.
func sqlInt(v driver.Value) (n int64, null bool, err error) {
	switch v := v.(type) {
	case nil:
		return 0, true, nil
	case int64:
		return v, false, nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<62 {
			return int64(v), false, nil
		}
	case bool:
		if v {
			return 1, false, nil
		}
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("cityops_tally: %v (%T) is not an integer", v, v)
}

// tenths is the SQL for the tenths of an hour from the timestamp a to b,
// rounded half up; NULL when either is NULL. SQLite stores
// timestamps as text, and its julianday() parses them at some 0.3 µs
// each: cityops_tenths parses them in Go instead.
func (d *DB) tenths(a, b string) string {
	if d.dialect == Postgres {
		// date_part is double precision, several times faster than
		// extract's numeric; floor(x + 0.5) rounds half up as cityops_tenths
		// does, where round(double precision) would round half to even.
		return fmt.Sprintf("cast(floor(date_part('epoch', %s - %s) / 360 + 0.5) as bigint)", b, a)
	}
	return fmt.Sprintf("cityops_tenths(%s, %s)", a, b)
}

// tenthsFunc is cityops_tenths(a, b), SQLite's side of DB.tenths.
func tenthsFunc(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if args[0] == nil || args[1] == nil {
		return nil, nil
	}
	a, ok1 := sqliteTime(args[0])
	b, ok2 := sqliteTime(args[1])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("cityops_tenths: cannot read %v and %v as times", args[0], args[1])
	}
	return int64(math.Floor(float64(b-a)/float64(6*time.Minute/time.Microsecond) + 0.5)), nil
}

// sqliteTime reads a timestamp as SQLite stores it in text — the driver
// writes "2006-01-02 15:04:05.999999999-07:00"; SQLite's own functions
// "2006-01-02 15:04:05" (UTC) — as Unix microseconds. A 'T' for the space,
// "Z" for UTC and a missing seconds or fraction part are accepted too.
func sqliteTime(v driver.Value) (int64, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case time.Time:
		return v.UnixMicro(), true
	default:
		return 0, false
	}
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		x := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			x = x*10 + int(c-'0')
		}
		return x, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	var hour, min, sec, micro int
	i := 10
	if i < len(s) && (s[i] == ' ' || s[i] == 'T') {
		var ok4, ok5 bool
		hour, ok4 = num(11, 2)
		min, ok5 = num(14, 2)
		if !ok4 || !ok5 || s[13] != ':' {
			return 0, false
		}
		i = 16
		if i < len(s) && s[i] == ':' {
			var ok bool
			if sec, ok = num(17, 2); !ok {
				return 0, false
			}
			i = 19
			if i < len(s) && s[i] == '.' {
				i++
				for scale := 100_000; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
					micro += int(s[i]-'0') * scale // nanoseconds past 6 digits add 0
					scale /= 10
				}
			}
		}
	}
	offset := 0
	switch rest := strings.TrimSpace(s[i:]); {
	case rest == "" || rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := strconv.Atoi(rest[1:3])
		m, ok2 := strconv.Atoi(rest[4:6])
		if ok1 != nil || ok2 != nil {
			return 0, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.UTC)
	return (t.Unix()-int64(offset))*1e6 + int64(micro), true
}

func init() {
	sqlite.MustRegisterFunction("cityops_tally", &sqlite.FunctionImpl{NArgs: -1, Deterministic: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) { return &tallyAgg{}, nil }})
	sqlite.MustRegisterFunction("cityops_tenths", &sqlite.FunctionImpl{NArgs: 2, Deterministic: true, VolatileArgs: true,
		Scalar: tenthsFunc})
}

// handlingGroup accumulates one group's figures; tenths is the histogram of
// its resolution times in tenths of an hour.
type handlingGroup struct {
	cityops.HandlingSummary
	ratingSum int64
	tenths    map[int64]int
}

func (h *handlingGroup) finish() {
	if h.Resolved > 0 {
		h.OnTimeRate = float64(h.OnTime) / float64(h.Resolved)
		h.MedianHours = medianTenths(h.tenths, h.Resolved) / 10
	}
	if h.Ratings > 0 {
		h.AvgRating = float64(h.ratingSum) / float64(h.Ratings)
	}
}

// medianTenths returns the median of the n values of a histogram of whole
// tenths, rounded to a whole tenth.
func medianTenths(hist map[int64]int, n int) float64 {
	keys := make([]int64, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	// The values at 1-based positions lo and hi, the same one when n is odd.
	lo, hi := (n+1)/2, n/2+1
	var vlo, vhi int64
	seen := 0
	for _, k := range keys {
		before := seen
		seen += hist[k]
		if before < lo && lo <= seen {
			vlo = k
		}
		if before < hi && hi <= seen {
			vhi = k
			break
		}
	}
	return math.Round(float64(vlo+vhi) / 2)
}

// handlingBy counts the handling figures per key, an SQL integer
// expression over reports r; the key "0" makes one group, 0. A NULL key
// is group 0 too. The figures are not finished.
func (d *DB) handlingBy(ctx context.Context, f cityops.IOCFilter, key string) (map[int64]*handlingGroup, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	now := d.Now().UTC()
	since, until, err := iocPeriod(f, now)
	if err != nil {
		return nil, err
	}
	out := map[int64]*handlingGroup{}
	group := func(k int64) *handlingGroup {
		if k == tallyNull {
			k = 0
		}
		h := out[k]
		if h == nil {
			h = &handlingGroup{tenths: map[int64]int{}}
			out[k] = h
		}
		return h
	}

	w := sc.where(since, until)
	q := d.query("ioc_handling", map[string]string{"key": key, "scope": andConds(w),
		"tenths": d.tenths("r.received_at", "r.resolved_at")})
	t, err := d.tally(ctx, q, []string{"key", "tenths"}, []string{"on_time", "rating"}, w.args...)
	if err != nil {
		return nil, fmt.Errorf("handling: %w", err)
	}
	for k, v := range t {
		h := group(k[0])
		h.Received += v.n
		h.OnTime += int(v.sums[0])
		h.ratingSum += v.sums[1]
		h.Ratings += v.counts[1]
		if k[1] != tallyNull {
			h.Resolved += v.n
			h.tenths[k[1]] += v.n
		}
	}

	start, end := d.today(now)
	w = sc.where(start, end, now)
	if key == "0" { // one group: four counts, no tally
		h := group(0)
		q := d.query("ioc_now_total", map[string]string{"scope": andConds(w)})
		err := d.db.QueryRowContext(ctx, q, w.args...).Scan(&h.ReceivedToday, &h.ResolvedToday, &h.OpenNow, &h.OverdueNow)
		if err != nil {
			return nil, fmt.Errorf("handling today: %w", err)
		}
		return out, nil
	}
	q = d.query("ioc_now", map[string]string{"key": key, "scope": andConds(w)})
	t, err = d.tally(ctx, q, []string{"part", "key"}, []string{"overdue"}, w.args...)
	if err != nil {
		return nil, fmt.Errorf("handling today: %w", err)
	}
	for k, v := range t {
		h := group(k[1])
		switch k[0] {
		case 1:
			h.ReceivedToday = v.n
		case 2:
			h.ResolvedToday = v.n
		case 3:
			h.OpenNow, h.OverdueNow = v.n, int(v.sums[0])
		}
	}
	return out, nil
}

// add merges o's figures into h (before finish).
func (h *handlingGroup) add(o *handlingGroup) {
	h.ReceivedToday += o.ReceivedToday
	h.ResolvedToday += o.ResolvedToday
	h.OpenNow += o.OpenNow
	h.OverdueNow += o.OverdueNow
	h.Received += o.Received
	h.Resolved += o.Resolved
	h.OnTime += o.OnTime
	h.Ratings += o.Ratings
	h.ratingSum += o.ratingSum
	for k, n := range o.tenths {
		h.tenths[k] += n
	}
}

// HandlingSummary implements cityops.IOCService. It returns EUNAUTHORIZED
// or EFORBIDDEN without PermIOC, EINVALID for an unknown sector or area or
// an empty period.
func (d *DB) HandlingSummary(ctx context.Context, f cityops.IOCFilter) (*cityops.HandlingSummary, error) {
	groups, err := d.handlingBy(ctx, f, "0")
	if err != nil {
		return nil, err
	}
	h := groups[0]
	if h == nil {
		return &cityops.HandlingSummary{}, nil
	}
	h.finish()
	return &h.HandlingSummary, nil
}

// HandlingBreakdown implements cityops.IOCService, with the errors of
// HandlingSummary and EINVALID for another grouping. Rows are ranked by
// on-time rate, then median hours, then the number resolved; rows equal
// in all three share a rank (1, 2, 2, 4), and rows with nothing resolved
// come last with rank 0, the busiest first.
func (d *DB) HandlingBreakdown(ctx context.Context, by string, f cityops.IOCFilter) ([]*cityops.HandlingRow, error) {
	if err := authorize(ctx, cityops.PermIOC); err != nil {
		return nil, err
	}
	// Grouped by category for a sector, so that no report needs a join:
	// the categories' figures are merged per sector below.
	var key, codes string
	switch by {
	case cityops.ByAgency:
		key, codes = "r.agency_id", `select id, code from agencies`
	case cityops.ByArea:
		key, codes = "r.area_id", `select id, code from areas`
	case cityops.BySector:
		key, codes = "r.category_id", `select c.id, s.code from categories c join sectors s on s.id = c.sector_id`
	default:
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"by": "must be agency, area or sector"}}
	}
	groups, err := d.handlingBy(ctx, f, key)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	rows, err := d.db.QueryContext(ctx, codes)
	if err != nil {
		return nil, fmt.Errorf("handling breakdown: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var code string
		if err := rows.Scan(&id, &code); err != nil {
			return nil, fmt.Errorf("handling breakdown: %w", err)
		}
		names[id] = code
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("handling breakdown: %w", err)
	}
	byName := map[string]*handlingGroup{}
	for id, h := range groups {
		if m := byName[names[id]]; m != nil {
			m.add(h)
		} else {
			byName[names[id]] = h
		}
	}
	out := make([]*cityops.HandlingRow, 0, len(byName))
	for name, h := range byName {
		h.finish()
		out = append(out, &cityops.HandlingRow{Key: name, HandlingSummary: h.HandlingSummary})
	}
	better := func(a, b *cityops.HandlingRow) int { // < 0 when a ranks above b
		switch {
		case a.OnTimeRate != b.OnTimeRate:
			return descending(a.OnTimeRate, b.OnTimeRate)
		case a.MedianHours != b.MedianHours:
			return -descending(a.MedianHours, b.MedianHours)
		}
		return descending(float64(a.Resolved), float64(b.Resolved))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Resolved > 0) != (b.Resolved > 0) {
			return a.Resolved > 0
		}
		if a.Resolved > 0 {
			if c := better(a, b); c != 0 {
				return c < 0
			}
		} else if a.Received != b.Received {
			return a.Received > b.Received
		}
		return a.Key < b.Key
	})
	for i, r := range out {
		switch {
		case r.Resolved == 0:
		case i > 0 && better(out[i-1], r) == 0:
			r.Rank = out[i-1].Rank
		default:
			r.Rank = i + 1
		}
	}
	return out, nil
}

// descending orders a before b when a is larger.
func descending(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// OpenCases implements cityops.IOCService, with the errors of
// HandlingSummary. The filter's period does not apply: these are the
// cases open now. A limit of 0 means 2,000; below 0 or above 5,000 is
// EINVALID.
func (d *DB) OpenCases(ctx context.Context, f cityops.IOCFilter, limit int) ([]*cityops.CasePoint, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = iocDefaultCases
	}
	if limit < 0 || limit > iocMaxCases {
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"limit": fmt.Sprintf("must be 1 to %d", iocMaxCases)}}
	}
	now := d.Now().UTC()
	w := sc.where()
	q := d.query("ioc_open_cases", map[string]string{"scope": andConds(w), "limit": strconv.Itoa(limit)})
	rows, err := d.db.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("open cases: %w", err)
	}
	defer rows.Close()
	out := []*cityops.CasePoint{}
	for rows.Next() {
		var c cityops.CasePoint
		var due sql.Null[time.Time]
		if err := rows.Scan(&c.Tracking, &c.Lat, &c.Lon, &c.Status, &c.Category, &c.Sector, &c.Agency, &c.Urgent,
			&due, &c.ReceivedAt); err != nil {
			return nil, fmt.Errorf("open cases: %w", err)
		}
		c.DueAt, c.ReceivedAt = nullTime(due), c.ReceivedAt.UTC()
		c.Overdue = c.DueAt != nil && c.DueAt.Before(now)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// ReportHeat implements cityops.IOCService, with the errors of
// HandlingSummary: at most 10,000 cells, the busiest first (then south to
// north, west to east). A cell must be 0.0005 to 1 degree (EINVALID
// otherwise).
func (d *DB) ReportHeat(ctx context.Context, f cityops.IOCFilter, cell float64) ([]cityops.HeatCell, error) {
	sc, err := d.iocScope(ctx, f)
	if err != nil {
		return nil, err
	}
	if !(cell >= iocMinCell && cell <= iocMaxCell) { // also refuses NaN
		return nil, &cityops.Error{Code: cityops.EINVALID, Message: "invalid input",
			Fields: map[string]string{"cell": fmt.Sprintf("must be %g to %g degrees", iocMinCell, iocMaxCell)}}
	}
	since, until, err := iocPeriod(f, d.Now().UTC())
	if err != nil {
		return nil, err
	}
	w := sc.where(since, until, cell)
	t, err := d.tally(ctx, d.query("ioc_heat", map[string]string{"scope": andConds(w)}), []string{"cell_lat", "cell_lon"}, nil, w.args...)
	if err != nil {
		return nil, fmt.Errorf("report heat: %w", err)
	}
	out := make([]cityops.HeatCell, 0, len(t))
	for k, v := range t {
		out = append(out, cityops.HeatCell{Lat: (float64(k[0]) + 0.5) * cell, Lon: (float64(k[1]) + 0.5) * cell, Count: v.n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Lat != b.Lat {
			return a.Lat < b.Lat
		}
		return a.Lon < b.Lon
	})
	if len(out) > iocMaxCells {
		out = out[:iocMaxCells]
	}
	return out, nil
}
