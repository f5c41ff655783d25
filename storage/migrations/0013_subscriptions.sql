-- NGSI-LD subscriptions: the definition as JSON, the fields storage
-- selects by in columns, and the delivery status the notifier adds to.

create table subscriptions (
	id                {{id}},
	tenant            text not null default '',
	sub_id            text not null,
	definition        text not null,
	active            boolean not null default true,
	expires_at        {{time}},
	status            text not null default '',
	times_sent        bigint not null default 0,
	times_failed      bigint not null default 0,
	last_notification {{time}},
	last_success      {{time}},
	last_failure      {{time}},
	created_at        {{time}} not null,
	modified_at       {{time}} not null,
	unique (tenant, sub_id)
);
