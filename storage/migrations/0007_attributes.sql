-- Categories' extra questions (Open311 service attributes) and reports'
-- answers, both as JSON text.

alter table categories add column attributes text not null default '[]';
alter table reports add column answers text not null default '{}';
