-- Personal data at rest. With a data keyring, the reporter's name, phone
-- and e-mail are sealed (AES-GCM) in their columns, and a keyed blind
-- index (HMAC-SHA256 of the normalised e-mail and phone) finds a person's
-- reports for an export without decrypting every row. Empty until a
-- keyring seals the row.

alter table reports add column reporter_email_bidx text not null default '';
alter table reports add column reporter_phone_bidx text not null default '';
create index reports_email_bidx on reports (reporter_email_bidx) where reporter_email_bidx <> '';
create index reports_phone_bidx on reports (reporter_phone_bidx) where reporter_phone_bidx <> '';

-- Closed reports still holding a reporter's data, oldest first: what the
-- anonymisation job walks.
create index reports_personal_closed on reports (closed_at)
	where reporter_name <> '' or reporter_phone <> '' or reporter_email <> '';

-- E-mail deliveries to reporters no longer copy the address: the target
-- 'reporter' is read from the report (and opened) when the e-mail is
-- sent. Addresses copied before, and in their errors, are removed.
update deliveries set last_error = replace(last_error, target, 'reporter'), target = 'reporter'
	where kind = 'email' and webhook_id is null and target <> 'reporter'
	and event_id in (select id from outbox where type in ('report.created', 'report.resolve', 'report.reject', 'report.mark_duplicate'));
