-- The transactional outbox, its consumers' cursors, webhooks and the
-- deliveries made from events.

create table outbox (
	id        {{id}},
	type      text not null,
	report_id bigint not null references reports (id),
	payload   text not null,
	internal  boolean not null default false,
	at        {{time}} not null
);

create table outbox_cursors (
	consumer text primary key,
	last_id  bigint not null
);

create table webhooks (
	id         {{id}},
	agency_id  bigint references agencies (id),
	url        text not null,
	secret     text not null,
	active     boolean not null default true,
	created_at {{time}} not null
);

create table deliveries (
	id         {{id}},
	kind       text not null,
	target     text not null,
	webhook_id bigint references webhooks (id) on delete cascade,
	event_id   bigint not null references outbox (id),
	payload    text not null,
	attempts   integer not null default 0,
	status     text not null default 'pending',
	last_error text not null default '',
	next_at    {{time}} not null,
	created_at {{time}} not null
);
create index deliveries_due on deliveries (status, next_at);
