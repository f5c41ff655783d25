-- The operations centre: alarm rules (kept whole as JSON: they are few and
-- read whole), alarms with their history, and public warnings.

create table alarm_rules (
	id         {{id}},
	code       text not null unique,
	definition text not null,
	enabled    boolean not null default true,
	created_at {{time}} not null,
	updated_at {{time}} not null
);

create table alarms (
	id          {{id}},
	rule_code   text not null,
	rule_name   text not null,
	sector      text not null default '',
	severity    text not null,
	status      text not null,
	tenant      text not null default '',
	entity_id   text not null,
	entity_type text not null,
	attr        text not null default '',
	value       double precision not null,
	message     text not null,
	count       integer not null default 1,
	lat         double precision,
	lon         double precision,
	area_id     bigint references areas (id),
	agency_id   bigint references agencies (id),
	report_id   bigint references reports (id),
	raised_at   {{time}} not null,
	updated_at  {{time}} not null,
	acked_at    {{time}},
	acked_by    text not null default '',
	cleared_at  {{time}},
	cleared_by  text not null default ''
);

-- One open alarm per rule and entity: a condition that comes back while it
-- is open updates it.
create unique index alarms_open on alarms (rule_code, tenant, entity_id) where status <> 'cleared';
create index alarms_status on alarms (status, raised_at);
create index alarms_raised on alarms (raised_at);
create index alarms_report on alarms (report_id);

create table alarm_events (
	id       {{id}},
	alarm_id bigint not null references alarms (id),
	at       {{time}} not null,
	action   text not null,
	actor    text not null,
	value    double precision,
	note     text not null default ''
);
create index alarm_events_alarm on alarm_events (alarm_id, id);

create table warnings (
	id           {{id}},
	title        text not null,
	body         text not null,
	severity     text not null,
	sector       text not null default '',
	area_id      bigint references areas (id),
	valid_from   {{time}} not null,
	valid_until  {{time}},
	created_by   text not null,
	created_at   {{time}} not null,
	withdrawn_at {{time}},
	withdrawn_by text not null default ''
);
create index warnings_valid on warnings (valid_from);
