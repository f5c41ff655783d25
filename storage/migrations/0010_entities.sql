-- NGSI-LD entities: the latest state of each (for queries) and every
-- attribute instance written (for temporal queries).

create table entities (
	id          {{id}},
	tenant      text not null default '',
	entity_id   text not null,
	type        text not null,
	attrs       text not null,
	lat         double precision,
	lon         double precision,
	created_at  {{time}} not null,
	modified_at {{time}} not null,
	unique (tenant, entity_id)
);
create index entities_type on entities (tenant, type, entity_id);

create table entity_instances (
	id          {{id}},
	entity_pk   bigint not null references entities (id) on delete cascade,
	attr        text not null,
	dataset_id  text not null default '',
	observed_at {{time}} not null,
	num         double precision,
	value       text not null
);
create index entity_instances_attr on entity_instances (entity_pk, attr, observed_at);
