/* IOC.HandlingSummary, IOC.HandlingBreakdown */
-- The reports received in [$1, $2) per {{key}} and per tenth of an hour
-- from receipt to resolution (null while unresolved), with how many were
-- resolved by their deadline and the citizens' ratings. The totals, the
-- on-time rate and the median follow from this histogram in Go, without
-- fetching every report. Rejected and duplicate reports do not count:
-- the status list names the other six, so that an index on status can
-- serve it.
select
	{{key}} as key,
	case when r.resolved_at is not null then cast(round({{hours}} * 10) as bigint) end as tenths,
	count(*) as n,
	sum(case when r.resolved_at <= r.due_at then 1 else 0 end) as on_time,
	coalesce(sum(r.rating), 0) as rating_sum,
	count(r.rating) as ratings
from reports r{{join}}
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed'){{scope}}
group by 1, 2
