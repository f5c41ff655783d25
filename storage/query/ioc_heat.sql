/* IOC.ReportHeat */
-- The reports received in [$1, $2) that have a point, one row each with
-- its cell of a grid of $3 degrees (cell k covers [k·$3, (k+1)·$3)), for
-- DB.tally to count. Rejected and duplicate reports do not count.
select cast(floor(r.lat / $3) as bigint) as cell_lat, cast(floor(r.lon / $3) as bigint) as cell_lon
from reports r
where r.received_at >= $1 and r.received_at < $2
	and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed')
	and r.lat is not null and r.lon is not null{{scope}}
