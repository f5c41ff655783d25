-- A link to media held elsewhere (Open311 media_url), kept as given: the
-- server does not fetch it.

alter table reports add column media_url text not null default '';
