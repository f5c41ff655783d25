/* IOC.HandlingSummary, IOC.HandlingBreakdown */
-- Today's flow and the open cases, one row each, for DB.tally to count
-- per part and {{key}}: (1) the reports received in [$1, $2), today in
-- the city's time zone; (2) those resolved in it; (3) those open at $3,
-- with whether they are past their deadline. Each part can use an index
-- of its own.
select 1 as part, {{key}} as key, 0 as overdue
from reports r
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed'){{scope}}
union all
select 2, {{key}}, 0
from reports r
where r.resolved_at >= $1 and r.resolved_at < $2
	and r.status in ('resolved', 'closed'){{scope}}
union all
select 3, {{key}}, case when r.due_at < $3 then 1 else 0 end
from reports r
where r.status in ('received', 'assigned', 'accepted', 'in_progress'){{scope}}
