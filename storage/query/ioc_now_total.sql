/* IOC.HandlingSummary */
-- Today's flow and the open cases: the reports received in [$1, $2),
-- today in the city's time zone, those resolved in it, those open at $3
-- and those of them past their deadline. Each count reads a range of an
-- index alone (the overdue ones too: (status, due_at)).
select
	(select count(*) from reports r
		where r.received_at >= $1 and r.received_at < $2
			and r.status in ('received', 'assigned', 'accepted', 'in_progress', 'resolved', 'closed'){{scope}}),
	(select count(*) from reports r
		where r.resolved_at >= $1 and r.resolved_at < $2 and r.status in ('resolved', 'closed'){{scope}}),
	(select count(*) from reports r
		where r.status in ('received', 'assigned', 'accepted', 'in_progress'){{scope}}),
	(select count(*) from reports r
		where r.status in ('received', 'assigned', 'accepted', 'in_progress') and r.due_at < $3{{scope}})
