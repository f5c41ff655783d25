-- Each roll-up row names the newest history block whose sums it holds
-- (among its series' blocks in its bucket): serve writes the sums it
-- keeps in memory a part at a time (rollup_defer.go), and after a crash
-- adds to a row only the blocks above its mark. 0: the row's sums are
-- all at or below rollup_watermark.
alter table entity_rollups add column mark bigint not null default 0;
