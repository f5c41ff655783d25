-- Geo-queries prefilter entities by the bounding box of their location,
-- whatever its geometry; until now only points were indexed (lat, lon).
-- lat and lon stay until nothing writes them any more; nothing reads them.
alter table entities add column min_lat double precision;
alter table entities add column min_lon double precision;
alter table entities add column max_lat double precision;
alter table entities add column max_lon double precision;

-- A point's box is the point.
update entities set min_lat = lat, min_lon = lon, max_lat = lat, max_lon = lon where lat is not null;

-- Other locations had no columns. Their box needs JSON functions that
-- SQLite and PostgreSQL spell differently, so they get the whole world
-- until they are next written: the prefilter keeps them and the exact
-- test decides. The pattern may also catch a sub-attribute named
-- location, which only costs a needless candidate.
update entities set min_lat = -90, min_lon = -180, max_lat = 90, max_lon = 180
	where lat is null and attrs like '%"location":%';

-- A B-tree cannot index boxes in two dimensions; this one gives the
-- prefilter a range of min_lat (the query's latitudes, widened by the
-- tallest box, which entities_bbox_span finds at once) and holds the
-- other three columns, so candidates are picked without reading rows.
create index entities_bbox on entities (tenant, min_lat, max_lat, min_lon, max_lon);
create index entities_bbox_span on entities (tenant, (max_lat - min_lat));
