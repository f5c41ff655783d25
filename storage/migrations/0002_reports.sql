-- Field reports, their timelines, routing rules and deadlines.

alter table categories add column hours_timed integer not null default 40;
alter table categories add column hours_urgent integer not null default 4;

create table routing_rules (
	id           {{id}},
	category_id  bigint references categories (id),
	sector_id    bigint references sectors (id),
	area_id      bigint references areas (id),
	agency_id    bigint references agencies (id),
	local_agency boolean not null default false,
	note         text not null default '',
	created_at   {{time}} not null
);

create table reports (
	id              {{id}},
	tracking        text not null unique,
	category_id     bigint not null references categories (id),
	description     text not null,
	lat             double precision,
	lon             double precision,
	address         text not null default '',
	area_id         bigint references areas (id),
	channel         text not null,
	urgent          boolean not null default false,
	status          text not null,
	agency_id       bigint references agencies (id),
	queued_until    {{time}},
	due_at          {{time}},
	received_at     {{time}} not null,
	updated_at      {{time}} not null,
	resolved_at     {{time}},
	closed_at       {{time}},
	resolution      text not null default '',
	duplicate_of    bigint references reports (id),
	rating          integer,
	rating_note     text not null default '',
	transfer_to     bigint references agencies (id),
	extension_to    {{time}},
	reporter_name   text not null default '',
	reporter_phone  text not null default '',
	reporter_email  text not null default '',
	citizen_token   text not null,
	idempotency_key text unique
);
create index reports_agency_status on reports (agency_id, status, received_at);
create index reports_area on reports (area_id, received_at);
create index reports_status on reports (status, received_at);

create table report_supports (
	report_id  bigint not null references reports (id),
	agency_id  bigint not null references agencies (id),
	task       text not null,
	done_at    {{time}},
	created_at {{time}} not null,
	primary key (report_id, agency_id)
);
create index report_supports_agency on report_supports (agency_id);

create table report_events (
	id          {{id}},
	report_id   bigint not null references reports (id),
	at          {{time}} not null,
	actor       text not null,
	action      text not null,
	from_status text not null default '',
	to_status   text not null default '',
	agency_id   bigint references agencies (id),
	note        text not null default '',
	internal    boolean not null default false
);
create index report_events_report on report_events (report_id, id);
