/* IOC.OpenCases */
-- The open cases that have a point, the earliest deadline first and those
-- without one last.
select r.tracking, r.lat, r.lon, r.status, c.code, s.code, coalesce(g.code, ''), r.urgent, r.due_at, r.received_at
from reports r
	join categories c on c.id = r.category_id
	join sectors s on s.id = c.sector_id
	left join agencies g on g.id = r.agency_id
where r.status in ('received', 'assigned', 'accepted', 'in_progress')
	and r.lat is not null and r.lon is not null{{scope}}
order by r.due_at is null, r.due_at, r.id
limit {{limit}}
