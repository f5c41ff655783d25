/* IOC.HandlingSummary, IOC.HandlingBreakdown */
-- Today's flow and the open cases per {{key}}: the reports received and
-- those resolved in [$1, $2) (today in the city's time zone), and those
-- open at $3 with how many of them are past their deadline. Each part is
-- a query of its own so that each can use its own index.
select 'received' as part, {{key}} as key, count(*) as n, 0 as overdue
from reports r{{join}}
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed'){{scope}}
group by 2
union all
select 'resolved', {{key}}, count(*), 0
from reports r{{join}}
where r.resolved_at >= $1 and r.resolved_at < $2
	and r.status in ('resolved', 'closed'){{scope}}
group by 2
union all
select 'open', {{key}}, count(*), sum(case when r.due_at < $3 then 1 else 0 end)
from reports r{{join}}
where r.status in ('received', 'assigned', 'accepted', 'in_progress'){{scope}}
group by 2
