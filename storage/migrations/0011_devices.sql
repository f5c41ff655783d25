-- Devices that send measurements (IoT Agent JSON style) into entities.

create table devices (
	id           {{id}},
	device_id    text not null,
	key          text not null,
	tenant       text not null default '',
	entity_id    text not null,
	entity_type  text not null,
	agency_id    bigint references agencies (id),
	attrs        text not null,
	last_seen_at {{time}},
	created_at   {{time}} not null,
	unique (key, device_id)
);
