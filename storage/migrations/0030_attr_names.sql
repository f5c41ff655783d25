-- Attributes named by a short code in indexed values, history blocks and
-- roll-ups instead of by their expanded name (storage/attrnames.go): a
-- Smart Data Model's pm25 is a 55-character IRI, repeated in every row
-- and index key of those tables. The code is the decimal number of the
-- attribute's row here. This migration rewrites those three tables once,
-- in time proportional to the history kept.
create table attr_names (
	id   {{id}},
	name text not null unique
);

insert into attr_names (name)
	select attr from entity_values
	union select attr from entity_blocks
	union select attr from entity_rollups;

update entity_values set attr = (select cast(n.id as text) from attr_names n where n.name = entity_values.attr);

update entity_blocks set attr = (select cast(n.id as text) from attr_names n where n.name = entity_blocks.attr);

update entity_rollups set attr = (select cast(n.id as text) from attr_names n where n.name = entity_rollups.attr);
