-- The audit trail: an append-only hash chain (each row's hash covers the
-- previous row's), and seals that checkpoint it with an HMAC under a key
-- kept outside the database. The code never updates or deletes these rows.

create table audit_log (
	id        {{id}},
	at        {{time}} not null,
	actor     text not null,
	source    text not null default '',
	action    text not null,
	object    text not null default '',
	outcome   text not null,
	detail    text not null default '',
	prev_hash text not null,
	hash      text not null
);

create index audit_log_at on audit_log (at);
create index audit_log_actor on audit_log (actor, id);
create index audit_log_object on audit_log (object, id);

create table audit_seals (
	id      {{id}},
	upto_id bigint not null,
	hash    text not null,
	hmac    text not null,
	at      {{time}} not null
);
