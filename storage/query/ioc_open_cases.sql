/* IOC.OpenCases */
-- The open cases that have a point, the earliest deadline first and
-- those without one last. Each open status is read apart, in deadline
-- order from the index on (status, due_at), up to the limit: the backlog
-- may be large, and no database merges several ranges of an index in
-- order by itself.
select r.tracking, r.lat, r.lon, r.status, c.code, s.code, coalesce(g.code, ''), r.urgent, r.due_at, r.received_at
from (
	select id, due_at from (
		select * from (select r.id, r.due_at from reports r
			where r.status = 'received' and r.due_at is not null and r.lat is not null and r.lon is not null{{scope}}
			order by r.due_at, r.id limit {{limit}}) as s1
		union all
		select * from (select r.id, r.due_at from reports r
			where r.status = 'assigned' and r.due_at is not null and r.lat is not null and r.lon is not null{{scope}}
			order by r.due_at, r.id limit {{limit}}) as s2
		union all
		select * from (select r.id, r.due_at from reports r
			where r.status = 'accepted' and r.due_at is not null and r.lat is not null and r.lon is not null{{scope}}
			order by r.due_at, r.id limit {{limit}}) as s3
		union all
		select * from (select r.id, r.due_at from reports r
			where r.status = 'in_progress' and r.due_at is not null and r.lat is not null and r.lon is not null{{scope}}
			order by r.due_at, r.id limit {{limit}}) as s4
		union all
		select * from (select r.id, r.due_at from reports r
			where r.status in ('received', 'assigned', 'accepted', 'in_progress') and r.due_at is null
				and r.lat is not null and r.lon is not null{{scope}}
			order by r.id limit {{limit}}) as s5
	) as cand
	order by due_at is null, due_at, id
	limit {{limit}}
) as o
	join reports r on r.id = o.id
	join categories c on c.id = r.category_id
	join sectors s on s.id = c.sector_id
	left join agencies g on g.id = r.agency_id
order by o.due_at is null, o.due_at, o.id
