/* IOC.ReportHeat */
-- The reports received in [$1, $2) that have a point, counted per cell of
-- a grid of $3 degrees (cell k covers [k·$3, (k+1)·$3)), the busiest
-- cells first. Rejected and duplicate reports do not count.
select floor(r.lat / $3) as cell_lat, floor(r.lon / $3) as cell_lon, count(*) as n
from reports r
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed')
	and r.lat is not null and r.lon is not null{{scope}}
group by 1, 2
order by n desc, cell_lat, cell_lon
limit {{limit}}
