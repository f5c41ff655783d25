-- Hardened sign-in: TOTP second factor with one-time recovery codes,
-- sessions that are half-open until the second factor is given, failed
-- sign-ins counted per account and per source address for lockout, and
-- single-use password reset links.

alter table users add column totp_secret text not null default '';
alter table users add column totp_pending text not null default '';
alter table users add column totp_enabled_at {{time}};
alter table users add column totp_last_step bigint not null default 0;
alter table users add column password_changed_at {{time}};
-- enabled_at: when an administrator last enabled the account again; the
-- 45-day inactivity count starts afresh from it.
alter table users add column enabled_at {{time}};

-- stage: '' signed in; 'mfa' password given, code awaited; 'enrol' password
-- given, the role needs a second factor the account does not have yet.
alter table sessions add column stage text not null default '';

create table recovery_codes (
	user_id bigint not null references users (id) on delete cascade,
	hash    text not null,
	used_at {{time}},
	primary key (user_id, hash)
);

-- One row per throttled key: "account:<e-mail>" or "source:<address>".
-- Unknown e-mail addresses are counted like known ones, so that a lockout
-- does not tell whether an account exists.
create table signin_failures (
	key          text primary key,
	failures     integer not null,
	first_at     {{time}} not null,
	locked_until {{time}}
);

create table password_resets (
	hash       text primary key,
	user_id    bigint not null references users (id) on delete cascade,
	created_at {{time}} not null,
	expires_at {{time}} not null,
	used_at    {{time}}
);
create index password_resets_user on password_resets (user_id);
