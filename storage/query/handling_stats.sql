/* Report.HandlingStats */
-- Handling figures grouped by {{group}}: how many reports came in during the
-- period, how many of those are resolved, how many were resolved by their
-- deadline, the average hours from receipt to resolution, and the
-- citizens' ratings.
select
	{{group}} as key,
	count(*) as received,
	sum(case when r.resolved_at is not null then 1 else 0 end) as resolved,
	sum(case when r.resolved_at is not null and r.resolved_at <= r.due_at then 1 else 0 end) as on_time,
	sum(case when r.status in ('received', 'assigned', 'accepted', 'in_progress') and r.due_at < $3 then 1 else 0 end) as overdue,
	avg(case when r.resolved_at is not null then {{hours}} end) as avg_hours,
	avg(r.rating) as avg_rating,
	count(r.rating) as ratings
from reports r
	join categories c on c.id = r.category_id
	join sectors s on s.id = c.sector_id
	left join agencies g on g.id = r.agency_id
	left join areas a on a.id = r.area_id
where r.received_at >= $1 and r.received_at < $2
	and r.status not in ('rejected', 'duplicate')
group by {{group}}
order by received desc, key
