-- Attributes named by a short code in indexed values, history blocks and
-- roll-ups instead of by their expanded name (storage/attrnames.go). A
-- code stands for an attribute of the entities of one type in one
-- tenant: a Smart Data Model's pm25 is a 55-character IRI that was
-- repeated in every row and index key of those tables, and a value
-- index range of one code holds exactly the matches of that type, so
-- counting a q needs no entity. The code is the decimal number of the
-- row here. This migration rewrites the three tables once, in time
-- proportional to the history kept.
create table attr_names (
	id     {{id}},
	tenant text not null,
	type   text not null,
	name   text not null,
	unique (tenant, name, type)
);

insert into attr_names (tenant, type, name)
	select e.tenant, e.type, v.attr from entity_values v join entities e on e.id = v.entity_pk
	union select e.tenant, e.type, b.attr from entity_blocks b join entities e on e.id = b.entity_pk
	union select e.tenant, e.type, r.attr from entity_rollups r join entities e on e.id = r.entity_pk;

update entity_values set attr = (select cast(n.id as text) from attr_names n join entities e on e.id = entity_values.entity_pk
	where n.tenant = e.tenant and n.type = e.type and n.name = entity_values.attr);

update entity_blocks set attr = (select cast(n.id as text) from attr_names n join entities e on e.id = entity_blocks.entity_pk
	where n.tenant = e.tenant and n.type = e.type and n.name = entity_blocks.attr);

update entity_rollups set attr = (select cast(n.id as text) from attr_names n join entities e on e.id = entity_rollups.entity_pk
	where n.tenant = e.tenant and n.type = e.type and n.name = entity_rollups.attr);
