-- Inboxes page through one agency's or area's reports newest first and
-- count the open ones: indexes that serve exactly that.

drop index reports_agency_status;
create index reports_agency_received on reports (agency_id, received_at);
create index reports_agency_open on reports (agency_id, status, queued_until);
