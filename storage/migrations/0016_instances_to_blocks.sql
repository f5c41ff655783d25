-- The instances of entity_instances were copied into entity_blocks and
-- the roll-ups by the Go step of this migration (storage/migrate.go).

drop table entity_instances;
