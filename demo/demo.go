// Package demo loads Huế's organisation into an empty cityops database: the
// city and its 40 wards and communes (with approximate boundaries derived
// from points), the handling agencies, the sectors and the report
// categories, and a few demo staff accounts. Its sources are in SOURCES.md.
package demo

import (
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/geo"
	"github.com/cityops/cityops/ngsild/jsonld"
)

//go:embed areas.csv agencies.csv categories.csv routing.csv outline.geojson alarm_rules.csv
var files embed.FS

// CityCode is the code of the city area, the root of the tree.
const CityCode = "HUE"

// Services are what the loader writes through.
type Services struct {
	Areas      cityops.AreaService
	Sectors    cityops.SectorService
	Agencies   cityops.AgencyService
	Categories cityops.CategoryService
	Users      cityops.UserService
	Routing    cityops.RoutingService
	// Alarms, when set, receives Huế's default alarm rules.
	Alarms cityops.AlarmService
}

// Login is a demo account, printed at start so people can sign in.
type Login struct {
	Email, Password, Role string
}

// sectors: the five of the programme first, then those the agencies need.
var sectors = []struct{ code, vi, en string }{
	{cityops.SectorHealth, "Y tế", "Health"},
	{cityops.SectorEducation, "Giáo dục", "Education"},
	{cityops.SectorTourism, "Du lịch", "Tourism"},
	{cityops.SectorTransport, "Giao thông", "Transport"},
	{cityops.SectorEnvironment, "Môi trường", "Environment"},
	{"urban", "Đô thị", "Urban management"},
	{"utilities", "Điện, nước", "Utilities"},
	{"culture", "Văn hóa", "Culture"},
	{"security", "An ninh trật tự", "Public order"},
	{"digital", "Chuyển đổi số", "Digital services"},
	{"disaster", "Phòng chống thiên tai", "Disaster prevention"},
}

// Empty reports whether the database has no areas yet, the condition for
// loading the demo.
func Empty(ctx context.Context, svc Services) (bool, error) {
	_, n, err := svc.Areas.FindAreas(ctx, cityops.AreaFilter{Limit: 1})
	return n == 0, err
}

// Load writes the demo organisation and accounts. ctx must carry an actor
// allowed to write (the system actor). The accounts get fresh random
// passwords, returned so that the caller can show them.
func Load(ctx context.Context, svc Services) ([]Login, error) {
	for i, s := range sectors {
		if err := svc.Sectors.CreateSector(ctx, &cityops.Sector{Code: s.code, Name: s.vi, Names: cityops.Names{"en": s.en}, Position: i + 1}); err != nil {
			return nil, fmt.Errorf("sector %s: %w", s.code, err)
		}
	}
	areas, err := Areas()
	if err != nil {
		return nil, err
	}
	if _, _, err := svc.Areas.ImportAreas(ctx, areas); err != nil {
		return nil, fmt.Errorf("areas: %w", err)
	}
	agencies, err := Agencies(areas)
	if err != nil {
		return nil, err
	}
	for _, a := range agencies {
		if err := svc.Agencies.CreateAgency(ctx, a); err != nil {
			return nil, fmt.Errorf("agency %s: %w", a.Code, err)
		}
	}
	cats, err := Categories()
	if err != nil {
		return nil, err
	}
	for _, c := range cats {
		if err := svc.Categories.CreateCategory(ctx, c); err != nil {
			return nil, fmt.Errorf("category %s: %w", c.Code, err)
		}
	}
	rules, err := RoutingRules()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if err := svc.Routing.CreateRoutingRule(ctx, r); err != nil {
			return nil, fmt.Errorf("routing rule %+v: %w", *r, err)
		}
	}
	if svc.Alarms != nil {
		rules, err := AlarmRules()
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if err := svc.Alarms.SaveAlarmRule(ctx, r); err != nil {
				return nil, fmt.Errorf("alarm rule %s: %w", r.Code, err)
			}
		}
	}
	var logins []Login
	for _, u := range []cityops.User{
		{Email: "admin@hue.demo", Name: "Quản trị viên", Role: cityops.RoleAdmin},
		{Email: "operator@hue.demo", Name: "Nguyễn Thị Hoa (IOC)", Role: cityops.RoleOperator, AgencyCode: "IOC"},
		{Email: "steering@hue.demo", Name: "Trần Văn Minh (Ban điều hành)", Role: cityops.RoleSteering},
		{Email: "sxd@hue.demo", Name: "Lê Quang Huy (Sở Xây dựng)", Role: cityops.RoleAgencyOfficer, AgencyCode: "SXD"},
		{Email: "sxd.head@hue.demo", Name: "Phạm Thị Lan (Sở Xây dựng)", Role: cityops.RoleAgencyHead, AgencyCode: "SXD"},
		{Email: "phuxuan@hue.demo", Name: "Hoàng Văn Nam (UBND phường Phú Xuân)", Role: cityops.RoleWardOfficer, AgencyCode: "UBND-P10", AreaCode: "P10"},
	} {
		pw := auth.NewToken(12)
		u := u
		if err := svc.Users.CreateUser(ctx, &u, pw); err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Email, err)
		}
		logins = append(logins, Login{Email: u.Email, Password: pw, Role: u.Role})
	}
	return logins, nil
}

// AlarmRules returns Huế's default alarm rules (alarm_rules.csv), their
// entity types and attributes expanded with the NGSI-LD core context as the
// simulator's entities are. The thresholds and their sources are in
// SOURCES.md.
func AlarmRules() ([]*cityops.AlarmRule, error) {
	f, err := files.Open("alarm_rules.csv")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rules, err := cityops.ParseAlarmRulesCSV(f)
	if err != nil {
		return nil, fmt.Errorf("alarm_rules.csv: %w", err)
	}
	core := jsonld.Core()
	for _, r := range rules {
		r.EntityType = core.ExpandTerm(r.EntityType)
		if r.Attr != "" {
			r.Attr = core.ExpandTerm(r.Attr)
		}
	}
	return rules, nil
}

// Areas returns the city (with the hand-drawn outline) and its 40 wards and
// communes as approximate Voronoi cells of the given points, valid from the
// 2025 reorganisation.
func Areas() ([]*cityops.Area, error) {
	outlineJSON, err := files.ReadFile("outline.geojson")
	if err != nil {
		return nil, err
	}
	features, err := geo.ParseFeatureCollection(bytes.NewReader(outlineJSON))
	if err != nil || len(features) != 1 || len(features[0].Geometry) != 1 {
		return nil, fmt.Errorf("demo outline: want one polygon: %v", err)
	}
	outline := features[0].Geometry[0]
	rows, err := readCSV("areas.csv", "code", "name", "kind", "lat", "lon")
	if err != nil {
		return nil, err
	}
	sites := make([]geo.Point, len(rows))
	for i, r := range rows {
		lat, err1 := strconv.ParseFloat(r["lat"], 64)
		lon, err2 := strconv.ParseFloat(r["lon"], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("areas.csv: %s: bad lat/lon", r["code"])
		}
		sites[i] = geo.Point{Lon: lon, Lat: lat}
	}
	cells, err := geo.VoronoiCells(sites, outline)
	if err != nil {
		return nil, fmt.Errorf("demo cells: %w", err)
	}
	from := time.Date(2025, 7, 1, 0, 0, 0, 0, time.FixedZone("ICT", 7*3600)).UTC()
	cityBoundary, err := json.Marshal(geo.MultiPolygon{outline})
	if err != nil {
		return nil, err
	}
	out := []*cityops.Area{{Code: CityCode, Name: "Thành phố Huế", Names: cityops.Names{"en": "Huế City"},
		Kind: cityops.AreaCity, Boundary: cityBoundary, Approximate: true}}
	for i, r := range rows {
		kind := cityops.AreaWard
		if r["kind"] == "xã" {
			kind = cityops.AreaCommune
		}
		b, err := json.Marshal(cells[i])
		if err != nil {
			return nil, err
		}
		prefix := map[string]string{cityops.AreaWard: "Phường ", cityops.AreaCommune: "Xã "}[kind]
		enSuffix := map[string]string{cityops.AreaWard: " Ward", cityops.AreaCommune: " Commune"}[kind]
		out = append(out, &cityops.Area{Code: r["code"], Name: prefix + r["name"], Names: cityops.Names{"en": r["name"] + enSuffix},
			Kind: kind, ParentCode: CityCode, ValidFrom: &from, Boundary: b, Approximate: true})
	}
	return out, nil
}

// agencyKinds maps agencies.csv kinds to cityops kinds.
var agencyKinds = map[string]string{
	"operations": cityops.AgencyOperations, "department": cityops.AgencyDepartment, "public_unit": cityops.AgencyPublicUnit,
	"committee": cityops.AgencyCommittee, "enterprise": cityops.AgencyEnterprise, "local": cityops.AgencyLocal,
}

// Agencies returns the city's agencies and one People's Committee per ward
// or commune, responsible for every sector in its own area.
func Agencies(areas []*cityops.Area) ([]*cityops.Agency, error) {
	rows, err := readCSV("agencies.csv", "code", "name_vi", "name_en", "kind", "sectors")
	if err != nil {
		return nil, err
	}
	all := make([]string, len(sectors))
	for i, s := range sectors {
		all[i] = s.code
	}
	var out []*cityops.Agency
	for _, r := range rows {
		kind, ok := agencyKinds[r["kind"]]
		if !ok {
			return nil, fmt.Errorf("agencies.csv: %s: unknown kind %q", r["code"], r["kind"])
		}
		secs := strings.Split(r["sectors"], ";")
		if r["sectors"] == "all" {
			secs = all
		}
		if r["code"] == "UBND-xx" {
			for _, a := range areas {
				if a.Code == CityCode {
					continue
				}
				short := strings.TrimPrefix(strings.TrimPrefix(a.Name, "Phường "), "Xã ")
				unit := map[string]string{cityops.AreaWard: "phường", cityops.AreaCommune: "xã"}[a.Kind]
				unitEn := map[string]string{cityops.AreaWard: "Ward", cityops.AreaCommune: "Commune"}[a.Kind]
				out = append(out, &cityops.Agency{Code: "UBND-" + a.Code, Name: "Ủy ban nhân dân " + unit + " " + short,
					Names: cityops.Names{"en": short + " " + unitEn + " People's Committee"}, Kind: kind,
					Sectors: all, Areas: []string{a.Code}, Active: true})
			}
			continue
		}
		out = append(out, &cityops.Agency{Code: r["code"], Name: r["name_vi"], Names: cityops.Names{"en": r["name_en"]},
			Kind: kind, Sectors: secs, Active: true})
	}
	return out, nil
}

// attributes are the demo's extra questions for a few categories, to show
// Open311 service definitions at work.
var attributes = map[string][]cityops.Attribute{
	"transport.road_damage": {{Code: "size", Datatype: cityops.AttrSingleValue, Required: true, Order: 1,
		Description: "Kích thước hư hỏng", Names: cityops.Names{"en": "Size of the damage"},
		Values: []cityops.AttrValue{
			{Key: "small", Name: "Nhỏ (dưới 50 cm)", Names: cityops.Names{"en": "Small (under 50 cm)"}},
			{Key: "medium", Name: "Vừa (50 cm – 2 m)", Names: cityops.Names{"en": "Medium (50 cm – 2 m)"}},
			{Key: "large", Name: "Lớn (trên 2 m)", Names: cityops.Names{"en": "Large (over 2 m)"}}}}},
	"utilities.power": {{Code: "danger", Datatype: cityops.AttrSingleValue, Required: true, Order: 1,
		Description: "Có nguy hiểm cho người không?", Names: cityops.Names{"en": "Is anyone in danger?"},
		Values: []cityops.AttrValue{
			{Key: "yes", Name: "Có", Names: cityops.Names{"en": "Yes"}},
			{Key: "no", Name: "Không", Names: cityops.Names{"en": "No"}}}}},
	"environment.fallen_tree": {{Code: "blocking", Datatype: cityops.AttrMultiValue, Order: 1,
		Description: "Cây đổ gây cản trở", Names: cityops.Names{"en": "The fallen tree blocks"},
		Values: []cityops.AttrValue{
			{Key: "road", Name: "Lòng đường", Names: cityops.Names{"en": "The road"}},
			{Key: "pavement", Name: "Vỉa hè", Names: cityops.Names{"en": "The pavement"}},
			{Key: "power_line", Name: "Đường dây điện", Names: cityops.Names{"en": "Power lines"}}}}},
}

// Categories returns the demo report categories.
func Categories() ([]*cityops.Category, error) {
	rows, err := readCSV("categories.csv", "code", "sector", "urgent", "name_vi", "name_en")
	if err != nil {
		return nil, err
	}
	out := make([]*cityops.Category, 0, len(rows))
	for _, r := range rows {
		out = append(out, &cityops.Category{Code: r["code"], Sector: r["sector"], Name: r["name_vi"],
			Names: cityops.Names{"en": r["name_en"]}, Urgent: r["urgent"] == "true", Active: true, Attributes: attributes[r["code"]]})
	}
	return out, nil
}

// RoutingRules returns the demo's routing: each sector to its city
// department, and the matters a ward handles itself to the People's
// Committee of the report's ward or commune ("local" in routing.csv).
func RoutingRules() ([]*cityops.RoutingRule, error) {
	rows, err := readCSV("routing.csv", "category", "sector", "agency", "note")
	if err != nil {
		return nil, err
	}
	out := make([]*cityops.RoutingRule, 0, len(rows))
	for _, r := range rows {
		rule := &cityops.RoutingRule{Category: r["category"], Sector: r["sector"], Agency: r["agency"], Note: r["note"]}
		if rule.Agency == "local" {
			rule.Agency, rule.LocalAgency = "", true
		}
		out = append(out, rule)
	}
	return out, nil
}

// readCSV reads an embedded CSV file with a header into maps, checking that
// the wanted columns are there.
func readCSV(name string, cols ...string) ([]map[string]string, error) {
	f, err := files.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := csv.NewReader(f)
	header, err := rd.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	idx := map[string]int{}
	for i, h := range header {
		idx[h] = i
	}
	for _, c := range cols {
		if _, ok := idx[c]; !ok {
			return nil, fmt.Errorf("%s: no column %q", name, c)
		}
	}
	var out []map[string]string
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m := map[string]string{}
		for _, c := range cols {
			m[c] = strings.TrimSpace(rec[idx[c]])
		}
		out = append(out, m)
	}
}
