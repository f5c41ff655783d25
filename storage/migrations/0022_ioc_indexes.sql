-- The operations centre's figures.
--
-- Today's resolutions, by the time they were resolved.
create index reports_resolved on reports (resolved_at);
-- A period's reports by the time they came in, with every column the
-- handling figures and the heat map read, so that a month of a large
-- city's reports is read from the index alone.
create index reports_received on reports (received_at, status, resolved_at, due_at, rating, agency_id, area_id, category_id, lat, lon);
-- The open reports by status and deadline, as reports_due (which it
-- replaces), with the columns the centre counts them by: a large backlog
-- is counted per agency, area or sector from the index alone.
drop index reports_due;
create index reports_open on reports (status, due_at, agency_id, area_id, category_id);
