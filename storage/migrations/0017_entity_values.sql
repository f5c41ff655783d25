-- The scalar values of each entity's top-level attributes, so that
-- q-queries find entities through an index instead of reading every
-- entity of a type. One row per element: a number in num, a string or a
-- Relationship's object in str, and a row with neither when the value is
-- anything else (so that the attribute's existence is indexed too). An
-- array of scalars has one row per element (idx), as q matches any.
-- The Go step of this migration fills it for the entities stored before.

create table entity_values (
	entity_pk  bigint not null references entities (id) on delete cascade,
	attr       text not null,
	dataset_id text not null default '',
	idx        integer not null,
	num        double precision,
	str        text,
	primary key (entity_pk, attr, dataset_id, idx)
) {{clustered}};
create index entity_values_num on entity_values (attr, num, entity_pk) where num is not null;
create index entity_values_str on entity_values (attr, str, entity_pk) where str is not null;
