-- History blocks indexed by entity and time, the attribute last, instead of
-- by series (entity_pk, attr, t_max). Streaming ingestion writes a block
-- per series and batch, and each new entry went to the end of its
-- series' run in the index: a batch touching 8,000 series changed 8,000
-- index pages. With the attribute last an entity's new entries sit
-- together, a page per entity (a quarter as many with four attributes).
-- A series' time range is still one range of the index, its other
-- attributes' entries skipped as it is read.
create index entity_blocks_entity on entity_blocks (entity_pk, t_max, attr);
drop index entity_blocks_series;
