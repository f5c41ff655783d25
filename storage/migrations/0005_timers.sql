-- Deadline warnings and escalation steps already taken for each report.

alter table reports add column warned_at {{time}};
alter table reports add column escalation integer not null default 0;
create index reports_due on reports (status, due_at);
