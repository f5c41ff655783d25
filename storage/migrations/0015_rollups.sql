-- Attribute history in blocks: each row holds the instances of one
-- series (an entity's attribute and datasetId) written together, in time
-- order, within one UTC hour, with their count, sum, minimum and maximum.
-- A batch of readings costs one row per series instead of one per
-- reading, and a block inside an aggregation period is counted without
-- being decoded. Blocks never straddle an hour, so the hour and day
-- roll-ups below line up with them.

create table entity_blocks (
	id          {{id}},
	entity_pk   bigint not null references entities (id) on delete cascade,
	attr        text not null,
	dataset_id  text not null default '',
	t_min       {{time}} not null,
	t_max       {{time}} not null,
	n           integer not null,
	nnum        integer not null,
	vsum        double precision not null,
	vmin        double precision,
	vmax        double precision,
	data        {{blob}} not null
);
create index entity_blocks_series on entity_blocks (entity_pk, attr, t_max);

-- Roll-ups per hour and per day (grain in seconds), maintained as
-- instances are written; they answer aggregations over long ranges and
-- outlive the blocks when retention removes those. n counts every
-- instance, nnum the numeric ones that vsum, vmin and vmax are over.
create table entity_rollups (
	entity_pk  bigint not null references entities (id) on delete cascade,
	attr       text not null,
	dataset_id text not null default '',
	grain      integer not null,
	bucket     {{time}} not null,
	n          bigint not null,
	nnum       bigint not null,
	vsum       double precision not null,
	vmin       double precision,
	vmax       double precision,
	primary key (entity_pk, attr, grain, bucket, dataset_id)
) {{clustered}};

-- How long to keep an entity type's history, in days; null keeps it for
-- ever. entity_type '' is the tenant's default for types without a policy
-- of their own.
create table retention_policies (
	tenant       text not null default '',
	entity_type  text not null,
	raw_days     integer,
	hour_days    integer,
	day_days     integer,
	updated_at   {{time}} not null,
	primary key (tenant, entity_type)
);
