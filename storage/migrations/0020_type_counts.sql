-- How many entities of each type a tenant has, kept as entities are
-- created and deleted, so that a query by type alone with count=true
-- does not count them one by one.

create table entity_type_counts (
	tenant text not null,
	type   text not null,
	n      bigint not null,
	primary key (tenant, type)
);

insert into entity_type_counts (tenant, type, n) select tenant, type, count(*) from entities group by tenant, type;
