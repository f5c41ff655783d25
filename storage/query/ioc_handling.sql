/* IOC.HandlingSummary, IOC.HandlingBreakdown */
-- The reports received in [$1, $2), one row each, for DB.tally to count
-- per {{key}} and tenth of an hour from receipt to resolution (null while
-- unresolved), summing those resolved by the deadline and the citizens'
-- ratings: the totals, the on-time rate and the median follow from that
-- histogram in Go. Rejected and duplicate reports do not count; the
-- status list names the other six so that an index on status can serve.
select
	{{key}} as key,
	{{tenths}} as tenths,
	case when r.resolved_at <= r.due_at then 1 else 0 end as on_time,
	r.rating as rating
from reports r
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed'){{scope}}
