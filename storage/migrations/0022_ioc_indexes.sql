-- The operations centre counts the reports resolved today.
create index reports_resolved on reports (resolved_at);
