-- The city's organisation, staff accounts, sessions and API keys.

create table meta (
	key   text primary key,
	value text not null
);

create table sectors (
	id       {{id}},
	code     text not null unique,
	name     text not null,
	names    text not null default '{}',
	position integer not null default 0
);

create table areas (
	id          {{id}},
	code        text not null unique,
	name        text not null,
	names       text not null default '{}',
	kind        text not null,
	parent_id   bigint references areas (id),
	depth       integer not null default 0,
	valid_from  {{time}},
	valid_to    {{time}},
	boundary    text,
	approximate boolean not null default false,
	created_at  {{time}} not null,
	updated_at  {{time}} not null
);
create index areas_parent on areas (parent_id);

create table agencies (
	id         {{id}},
	code       text not null unique,
	name       text not null,
	names      text not null default '{}',
	kind       text not null,
	email      text not null default '',
	phone      text not null default '',
	active     boolean not null default true,
	created_at {{time}} not null,
	updated_at {{time}} not null
);

create table agency_sectors (
	agency_id bigint not null references agencies (id) on delete cascade,
	sector_id bigint not null references sectors (id),
	primary key (agency_id, sector_id)
);

create table agency_areas (
	agency_id bigint not null references agencies (id) on delete cascade,
	area_id   bigint not null references areas (id),
	primary key (agency_id, area_id)
);
create index agency_areas_area on agency_areas (area_id);

create table categories (
	id        {{id}},
	code      text not null unique,
	sector_id bigint not null references sectors (id),
	name      text not null,
	names     text not null default '{}',
	urgent    boolean not null default false,
	active    boolean not null default true
);

create table users (
	id            {{id}},
	email         text not null unique,
	name          text not null default '',
	role          text not null,
	agency_id     bigint references agencies (id),
	area_id       bigint references areas (id),
	language      text not null default '',
	password_hash text not null,
	disabled_at   {{time}},
	last_login_at {{time}},
	created_at    {{time}} not null,
	updated_at    {{time}} not null
);

create table sessions (
	id           text primary key,
	user_id      bigint not null references users (id) on delete cascade,
	created_at   {{time}} not null,
	last_seen_at {{time}} not null,
	expires_at   {{time}} not null,
	user_agent   text not null default '',
	remote_addr  text not null default ''
);
create index sessions_user on sessions (user_id);

create table api_keys (
	id           {{id}},
	name         text not null,
	prefix       text not null unique,
	hash         text not null,
	scopes       text not null,
	created_at   {{time}} not null,
	last_used_at {{time}},
	revoked_at   {{time}}
);
