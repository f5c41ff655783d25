-- Photos attached to reports by citizens (kind 'report') and to results
-- by agencies (kind 'resolution'). The files live content-addressed under
-- the data directory; the rows say which report shows which.

create table report_photos (
	report_id  bigint not null references reports (id),
	hash       text not null,
	thumb      text not null,
	width      integer not null,
	height     integer not null,
	kind       text not null,
	created_at {{time}} not null,
	primary key (report_id, hash)
);
