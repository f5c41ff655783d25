-- When a device stopped reporting for longer than allowed ("not observed").

alter table devices add column not_observed_since {{time}};
