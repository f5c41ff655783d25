-- The recent history, on SQLite, while serve ingests (history_log.go).
-- Every batch wrote a block per series into entity_blocks and an entry at
-- its entity's place in entity_blocks_entity: with a station updated
-- twice a second the commit wrote a page of that index per station and
-- batch, and the batch upsert's rate fell by a third as the history grew
-- (docs/benchmarks.md). Batches now append their blocks here, where no
-- index is kept, so that a block costs a row at the end of the table;
-- every few seconds the blocks of each series and hour are merged into
-- one block of entity_blocks. The ids are history block ids (the same
-- numbers as entity_blocks', for roll-up marks and instance ids); no
-- foreign key: an entity's delete would scan the table, and the blocks of
-- deleted entities are dropped when merged. A block's time range and sums
-- are read from its data (block.go): a row is five values to bind, not
-- twelve.
create table history_log (
	id          {{rowid}},
	entity_pk   bigint not null,
	attr        text not null,
	dataset_id  text not null default '',
	data        {{blob}} not null
);
