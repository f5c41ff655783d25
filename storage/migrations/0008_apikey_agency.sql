-- An API key may act for an agency: its own system then works its reports
-- as the agency's staff would (Open311 service request updates).

alter table api_keys add column agency_id bigint references agencies (id);
