package simulate

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sector codes, equal to the cityops.Sector* codes, so that the operations
// centre can file every simulated entity under one of its five sectors
// without this package importing the domain.
const (
	SectorHealth      = "health"
	SectorEducation   = "education"
	SectorTourism     = "tourism"
	SectorTransport   = "transport"
	SectorEnvironment = "environment"
)

// NGSI-LD entity types the generator produces; the names are FIWARE Smart
// Data Models types so that the data can be consumed by any SDM-aware tool
// (see docs/data-models.md for the attributes of each).
const (
	TypeAirQualityObserved      = "AirQualityObserved"
	TypeFloodMonitoring         = "FloodMonitoring"
	TypeTrafficFlowObserved     = "TrafficFlowObserved"
	TypeOffStreetParking        = "OffStreetParking"
	TypeTourismPresenceObserved = "TourismPresenceObserved"
	TypeBuilding                = "Building"
	TypeKeyPerformanceIndicator = "KeyPerformanceIndicator"
)

// Building categories (SDM Building `category` values) that select which
// cityops extension attributes a Building entity carries.
const (
	CategoryHospital = "hospital"
	CategorySchool   = "school"
)

// KPI identifiers (Site.Category of KeyPerformanceIndicator sites), one per
// aggregate the operations centre shows on its front page.
const (
	KPIPM25DailyMean    = "pm25-24h-mean"
	KPIBedOccupancy     = "hospital-bed-occupancy"
	KPITrafficMeanSpeed = "traffic-mean-speed"
	KPIParkingOccupancy = "parking-occupancy"
	KPIMonumentVisitors = "monument-visitors"
	KPISchoolAttendance = "school-attendance"
)

// Site is one thing in the city the generator gives a live state to: a
// sensor station, a road section, a car park, a monument, a building or a
// city-wide indicator. The type-specific knobs are plain fields so that a
// deployment can describe its own city in code or in a file.
type Site struct {
	// ID is the slug that makes the NGSI-LD id urn:ngsi-ld:<Type>:hue-<ID>;
	// lower-case ASCII letters, digits and '-'.
	ID string
	// Type is the NGSI-LD entity type, one of the Type* constants.
	Type string
	// Name is the human name shown on the map, in Vietnamese.
	Name string
	// Lat and Lon are WGS84 degrees (approximate for the Huế set).
	Lat, Lon float64
	// Sector is one of the Sector* codes.
	Sector string
	// Area is the code of the cityops demo area (demo/areas.csv) whose
	// point is nearest; it is published as locationCode where SDM asks for one.
	Area string
	// Category is the Building category (CategoryHospital, CategorySchool),
	// the KPI identifier (KPI* constants) or the river name of a gauge.
	Category string
	// Capacity is the size of the site: total spots of a car park, beds of a
	// hospital, students enrolled at a school, vehicles per hour a road
	// section carries at saturation.
	Capacity int
	// Base is the site's typical magnitude: PM2.5 in µg/m³ for an air-quality
	// station, free-flow speed in km/h for a road, peak visitors per hour for
	// a monument, dry-season water level in metres for a gauge, popularity
	// (about 1) for a car park and the occupancy bias (-1…1) for a hospital.
	Base float64
	// Exposure is how much road traffic an air-quality station sees (0 rural
	// … 1.5 kerbside).
	Exposure float64
	// Tide is the amplitude in metres of a gauge's semi-diurnal tidal ripple.
	Tide float64
	// Alarms are a gauge's flood alarm levels I, II and III in metres.
	Alarms [3]float64
	// FloodLag delays a gauge's flood peak after the reference gauge (the
	// one with zero lag, Kim Long in the Huế set).
	FloodLag time.Duration
	// Opens and Closes bound a monument's daytime opening, as offsets from
	// local midnight; visitors are zero outside them.
	Opens, Closes time.Duration
	// NightDays are the weekdays with a 19:00–22:00 night opening.
	NightDays []time.Weekday
}

// EntityID returns the NGSI-LD id of the site's entity, so that other parts
// of cityops can refer to a simulated entity without generating it.
func (s Site) EntityID() string {
	return "urn:ngsi-ld:" + s.Type + ":hue-" + s.ID
}

// Validate reports the first inconsistency in a site description, so that a
// mistyped catalogue fails at start-up and not with odd numbers later.
func (s Site) Validate() error {
	if s.ID == "" || strings.Trim(s.ID, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("site %q: id must be lower-case ASCII letters, digits and '-'", s.ID)
	}
	if s.Name == "" {
		return fmt.Errorf("site %q: name is required", s.ID)
	}
	if s.Lat < -90 || s.Lat > 90 || s.Lon < -180 || s.Lon > 180 {
		return fmt.Errorf("site %q: coordinates out of range", s.ID)
	}
	switch s.Sector {
	case SectorHealth, SectorEducation, SectorTourism, SectorTransport, SectorEnvironment:
	default:
		return fmt.Errorf("site %q: unknown sector %q", s.ID, s.Sector)
	}
	switch s.Type {
	case TypeAirQualityObserved:
		if s.Base <= 0 {
			return fmt.Errorf("site %q: air-quality base PM2.5 must be positive", s.ID)
		}
	case TypeFloodMonitoring:
		a := s.Alarms
		if !(a[0] > 0 && a[1] > a[0] && a[2] > a[1]) {
			return fmt.Errorf("site %q: alarm levels must be positive and increasing", s.ID)
		}
		if s.FloodLag < 0 {
			return fmt.Errorf("site %q: negative flood lag", s.ID)
		}
	case TypeTrafficFlowObserved:
		if s.Capacity <= 0 || s.Base <= 0 {
			return fmt.Errorf("site %q: road needs a capacity and a free-flow speed", s.ID)
		}
	case TypeOffStreetParking:
		if s.Capacity <= 0 || s.Base <= 0 {
			return fmt.Errorf("site %q: car park needs spots and a popularity", s.ID)
		}
	case TypeTourismPresenceObserved:
		if s.Base <= 0 || s.Opens < 0 || s.Closes <= s.Opens || s.Closes > 24*time.Hour {
			return fmt.Errorf("site %q: monument needs peak visitors and opening hours", s.ID)
		}
	case TypeBuilding:
		if s.Category != CategoryHospital && s.Category != CategorySchool {
			return fmt.Errorf("site %q: building category must be %q or %q", s.ID, CategoryHospital, CategorySchool)
		}
		if s.Capacity <= 0 {
			return fmt.Errorf("site %q: building needs beds or students", s.ID)
		}
	case TypeKeyPerformanceIndicator:
		if _, ok := kpiUnits[s.Category]; !ok {
			return fmt.Errorf("site %q: unknown KPI %q", s.ID, s.Category)
		}
	default:
		return fmt.Errorf("site %q: unknown entity type %q", s.ID, s.Type)
	}
	return nil
}

var errNoSites = errors.New("simulate: no sites")

// wd is shorthand for the weekday lists in HueSites.
func wd(days ...time.Weekday) []time.Weekday { return days }

// HueSites returns the demo catalogue for Huế: real places with coordinates
// placed by hand (approximate, within a few hundred metres) and sizes that
// are plausible demo figures, not official statistics. See
// docs/data-models.md for what each field means per type.
func HueSites() []Site {
	const (
		h = time.Hour
		m = time.Minute
	)
	// Gauges: alarm levels from the hydrological bulletins cited in
	// docs/data-models.md; Phú Ốc level I is an unverified default.
	kimLongAlarms := [3]float64{1.0, 2.0, 3.5}
	phuOcAlarms := [3]float64{1.5, 3.0, 4.5}
	// Huế's city centre, where city-wide KPIs are pinned on the map.
	const cLat, cLon = 16.4637, 107.5909
	return []Site{
		// Air quality (environment).
		{ID: "dong-ba", Type: TypeAirQualityObserved, Name: "Quan trắc không khí chợ Đông Ba", Lat: 16.4733, Lon: 107.5886, Sector: SectorEnvironment, Area: "P10", Base: 26, Exposure: 1.4},
		{ID: "phu-xuan", Type: TypeAirQualityObserved, Name: "Quan trắc không khí Phú Xuân (Kinh thành)", Lat: 16.4760, Lon: 107.5760, Sector: SectorEnvironment, Area: "P10", Base: 22, Exposure: 0.9},
		{ID: "thuan-an", Type: TypeAirQualityObserved, Name: "Quan trắc không khí Thuận An", Lat: 16.5560, Lon: 107.6430, Sector: SectorEnvironment, Area: "P01", Base: 15, Exposure: 0.5},
		{ID: "huong-thuy", Type: TypeAirQualityObserved, Name: "Quan trắc không khí Hương Thủy", Lat: 16.4050, Lon: 107.6300, Sector: SectorEnvironment, Area: "P19", Base: 21, Exposure: 1.0},
		{ID: "kim-long", Type: TypeAirQualityObserved, Name: "Quan trắc không khí Kim Long", Lat: 16.4640, Lon: 107.5560, Sector: SectorEnvironment, Area: "P08", Base: 18, Exposure: 0.7},
		{ID: "a-luoi", Type: TypeAirQualityObserved, Name: "Quan trắc không khí A Lưới", Lat: 16.2850, Lon: 107.1750, Sector: SectorEnvironment, Area: "X16", Base: 13, Exposure: 0.3},

		// River gauges (environment). Kim Long is on the Hương river, Phú Ốc
		// on the Bồ river, the Hương's main tributary.
		{ID: "kim-long", Type: TypeFloodMonitoring, Name: "Trạm thủy văn Kim Long", Lat: 16.4600, Lon: 107.5600, Sector: SectorEnvironment, Area: "P08", Category: "sông Hương", Base: 0.45, Tide: 0.09, Alarms: kimLongAlarms},
		{ID: "phu-oc", Type: TypeFloodMonitoring, Name: "Trạm thủy văn Phú Ốc", Lat: 16.5300, Lon: 107.4750, Sector: SectorEnvironment, Area: "P17", Category: "sông Bồ", Base: 0.85, Tide: 0.03, Alarms: phuOcAlarms, FloodLag: 3 * h},

		// Traffic counting points (transport): Capacity in vehicles per
		// hour, motorbikes included; Base is the free-flow speed.
		{ID: "le-loi", Type: TypeTrafficFlowObserved, Name: "Đường Lê Lợi (Quốc Học)", Lat: 16.4632, Lon: 107.5868, Sector: SectorTransport, Area: "P05", Capacity: 3600, Base: 40},
		{ID: "hung-vuong", Type: TypeTrafficFlowObserved, Name: "Đường Hùng Vương", Lat: 16.4590, Lon: 107.5975, Sector: SectorTransport, Area: "P05", Capacity: 4200, Base: 40},
		{ID: "tran-hung-dao", Type: TypeTrafficFlowObserved, Name: "Đường Trần Hưng Đạo (Đông Ba)", Lat: 16.4720, Lon: 107.5865, Sector: SectorTransport, Area: "P10", Capacity: 3800, Base: 35},
		{ID: "dien-bien-phu", Type: TypeTrafficFlowObserved, Name: "Đường Điện Biên Phủ", Lat: 16.4535, Lon: 107.5840, Sector: SectorTransport, Area: "P05", Capacity: 2400, Base: 40},
		{ID: "ly-thuong-kiet", Type: TypeTrafficFlowObserved, Name: "Đường Lý Thường Kiệt", Lat: 16.4590, Lon: 107.5925, Sector: SectorTransport, Area: "P05", Capacity: 2600, Base: 40},
		{ID: "nguyen-tat-thanh", Type: TypeTrafficFlowObserved, Name: "Đường Nguyễn Tất Thành (Hương Thủy)", Lat: 16.4350, Lon: 107.6250, Sector: SectorTransport, Area: "P21", Capacity: 3200, Base: 55},
		{ID: "le-duan", Type: TypeTrafficFlowObserved, Name: "Đường Lê Duẩn", Lat: 16.4665, Lon: 107.5735, Sector: SectorTransport, Area: "P10", Capacity: 3200, Base: 40},
		{ID: "ba-trieu", Type: TypeTrafficFlowObserved, Name: "Đường Bà Triệu", Lat: 16.4660, Lon: 107.6030, Sector: SectorTransport, Area: "P05", Capacity: 2800, Base: 40},
		{ID: "cau-truong-tien", Type: TypeTrafficFlowObserved, Name: "Cầu Trường Tiền", Lat: 16.4688, Lon: 107.5893, Sector: SectorTransport, Area: "P05", Capacity: 2400, Base: 30},
		{ID: "cau-phu-xuan", Type: TypeTrafficFlowObserved, Name: "Cầu Phú Xuân", Lat: 16.4645, Lon: 107.5835, Sector: SectorTransport, Area: "P05", Capacity: 4500, Base: 40},

		// Car parks near the Citadel (transport); demo car parks named after
		// the landmark beside them, capacities invented.
		{ID: "ngo-mon", Type: TypeOffStreetParking, Name: "Bãi đỗ xe Ngọ Môn", Lat: 16.4668, Lon: 107.5797, Sector: SectorTransport, Area: "P10", Capacity: 150, Base: 1.1},
		{ID: "cho-dong-ba", Type: TypeOffStreetParking, Name: "Bãi đỗ xe chợ Đông Ba", Lat: 16.4740, Lon: 107.5892, Sector: SectorTransport, Area: "P10", Capacity: 80, Base: 1.0},
		{ID: "thuong-tu", Type: TypeOffStreetParking, Name: "Bãi đỗ xe cửa Thượng Tứ", Lat: 16.4705, Lon: 107.5838, Sector: SectorTransport, Area: "P10", Capacity: 60, Base: 0.95},
		{ID: "hien-nhon", Type: TypeOffStreetParking, Name: "Bãi đỗ xe cửa Hiển Nhơn", Lat: 16.4718, Lon: 107.5812, Sector: SectorTransport, Area: "P10", Capacity: 50, Base: 0.9},
		{ID: "nghenh-luong-dinh", Type: TypeOffStreetParking, Name: "Bãi đỗ xe Nghênh Lương Đình", Lat: 16.4668, Lon: 107.5840, Sector: SectorTransport, Area: "P10", Capacity: 70, Base: 0.85},

		// Monuments (tourism): Base is peak visitors per hour on an ordinary
		// weekday of the average season.
		{ID: "dai-noi", Type: TypeTourismPresenceObserved, Name: "Đại Nội (Hoàng thành Huế)", Lat: 16.4698, Lon: 107.5775, Sector: SectorTourism, Area: "P10", Base: 700, Opens: 7 * h, Closes: 17*h + 30*m, NightDays: wd(time.Friday, time.Saturday, time.Sunday)},
		{ID: "chua-thien-mu", Type: TypeTourismPresenceObserved, Name: "Chùa Thiên Mụ", Lat: 16.4534, Lon: 107.5446, Sector: SectorTourism, Area: "P08", Base: 350, Opens: 7 * h, Closes: 18 * h},
		{ID: "lang-tu-duc", Type: TypeTourismPresenceObserved, Name: "Lăng Tự Đức", Lat: 16.4335, Lon: 107.5685, Sector: SectorTourism, Area: "P07", Base: 260, Opens: 7 * h, Closes: 17*h + 30*m},
		{ID: "lang-khai-dinh", Type: TypeTourismPresenceObserved, Name: "Lăng Khải Định", Lat: 16.3990, Lon: 107.5905, Sector: SectorTourism, Area: "P07", Base: 300, Opens: 7 * h, Closes: 17*h + 30*m},
		{ID: "lang-minh-mang", Type: TypeTourismPresenceObserved, Name: "Lăng Minh Mạng", Lat: 16.3878, Lon: 107.5700, Sector: SectorTourism, Area: "P07", Base: 220, Opens: 7 * h, Closes: 17*h + 30*m},

		// Hospitals (health): Capacity is beds; Base the occupancy bias.
		{ID: "bv-trung-uong-hue", Type: TypeBuilding, Category: CategoryHospital, Name: "Bệnh viện Trung ương Huế", Lat: 16.4620, Lon: 107.5880, Sector: SectorHealth, Area: "P05", Capacity: 2200, Base: 0.6},
		{ID: "bv-dai-hoc-y-duoc", Type: TypeBuilding, Category: CategoryHospital, Name: "Bệnh viện Trường Đại học Y - Dược Huế", Lat: 16.4600, Lon: 107.5895, Sector: SectorHealth, Area: "P05", Capacity: 800, Base: 0.3},
		{ID: "ttyt-huong-thuy", Type: TypeBuilding, Category: CategoryHospital, Name: "Trung tâm Y tế Hương Thủy", Lat: 16.4010, Lon: 107.6350, Sector: SectorHealth, Area: "P19", Capacity: 150, Base: -0.3},
		{ID: "ttyt-a-luoi", Type: TypeBuilding, Category: CategoryHospital, Name: "Trung tâm Y tế A Lưới", Lat: 16.2800, Lon: 107.1800, Sector: SectorHealth, Area: "X16", Capacity: 120, Base: -0.5},

		// Schools (education): Capacity is students enrolled.
		{ID: "thpt-quoc-hoc", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT chuyên Quốc Học", Lat: 16.4632, Lon: 107.5858, Sector: SectorEducation, Area: "P05", Capacity: 1100},
		{ID: "thpt-hai-ba-trung", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT Hai Bà Trưng", Lat: 16.4642, Lon: 107.5878, Sector: SectorEducation, Area: "P05", Capacity: 1400},
		{ID: "thpt-gia-hoi", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT Gia Hội", Lat: 16.4780, Lon: 107.5930, Sector: SectorEducation, Area: "P10", Capacity: 1300},
		{ID: "thpt-nguyen-hue", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT Nguyễn Huệ", Lat: 16.4585, Lon: 107.5860, Sector: SectorEducation, Area: "P05", Capacity: 1200},
		{ID: "thpt-cao-thang", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT Cao Thắng", Lat: 16.4535, Lon: 107.5930, Sector: SectorEducation, Area: "P05", Capacity: 1200},
		{ID: "thpt-huong-thuy", Type: TypeBuilding, Category: CategorySchool, Name: "Trường THPT Hương Thủy", Lat: 16.4020, Lon: 107.6290, Sector: SectorEducation, Area: "P19", Capacity: 1100},

		// City KPIs, derived from the sensors above.
		{ID: KPIPM25DailyMean, Type: TypeKeyPerformanceIndicator, Category: KPIPM25DailyMean, Name: "PM2.5 trung bình 24 giờ", Lat: cLat, Lon: cLon, Sector: SectorEnvironment, Area: "P05"},
		{ID: KPIBedOccupancy, Type: TypeKeyPerformanceIndicator, Category: KPIBedOccupancy, Name: "Công suất sử dụng giường bệnh", Lat: cLat, Lon: cLon, Sector: SectorHealth, Area: "P05"},
		{ID: KPISchoolAttendance, Type: TypeKeyPerformanceIndicator, Category: KPISchoolAttendance, Name: "Tỷ lệ học sinh có mặt", Lat: cLat, Lon: cLon, Sector: SectorEducation, Area: "P05"},
		{ID: KPIMonumentVisitors, Type: TypeKeyPerformanceIndicator, Category: KPIMonumentVisitors, Name: "Lượt khách tham quan di tích mỗi giờ", Lat: cLat, Lon: cLon, Sector: SectorTourism, Area: "P05"},
		{ID: KPITrafficMeanSpeed, Type: TypeKeyPerformanceIndicator, Category: KPITrafficMeanSpeed, Name: "Tốc độ giao thông trung bình", Lat: cLat, Lon: cLon, Sector: SectorTransport, Area: "P05"},
		{ID: KPIParkingOccupancy, Type: TypeKeyPerformanceIndicator, Category: KPIParkingOccupancy, Name: "Tỷ lệ lấp đầy bãi đỗ xe quanh Kinh thành", Lat: cLat, Lon: cLon, Sector: SectorTransport, Area: "P05"},
	}
}
