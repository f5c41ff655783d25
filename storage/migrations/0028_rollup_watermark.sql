-- The history blocks whose instances the roll-ups hold: every block up to
-- block_id. On SQLite, serve keeps the latest roll-up sums in memory and
-- writes them every few seconds (rollup_defer.go); blocks above the mark
-- were written since, and a serve that starts after a crash adds them to
-- the roll-ups from their own sums. PostgreSQL writes roll-ups with the
-- blocks and does not use it.
create table rollup_watermark (
	id       integer primary key check (id = 1),
	block_id bigint not null
);
insert into rollup_watermark (id, block_id) select 1, coalesce(max(id), 0) from entity_blocks;
