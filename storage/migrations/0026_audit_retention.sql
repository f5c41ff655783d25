-- Retention of the audit trail. A purge removes the oldest entries and
-- records, in the same transaction, an "audit.purge" entry naming the last
-- entry removed; the anchor keeps that too, so that verification starts
-- from the oldest remaining entry and can tell the purge's removals from
-- anyone else's. It holds one row, the latest purge's.
create table audit_anchor (
	id        {{id}},
	purge_id  bigint not null,
	upto_id   bigint not null,
	upto_hash text not null,
	removed   bigint not null,
	at        {{time}} not null
);

-- The administrators' page and the exports select by action.
create index audit_log_action on audit_log (action, id);
