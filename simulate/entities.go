package simulate

import (
	"math"
	"time"
)

// UN/CEFACT Recommendation 20 unit codes used in unitCode, named so that
// consumers and tests can refer to them instead of bare strings.
const (
	UnitMicrogramPerCubicMetre = "GQ"  // µg/m³
	UnitMetre                  = "MTR" // m
	UnitKilometrePerHour       = "KMH" // km/h
	UnitPercent                = "P1"  // %
	UnitOne                    = "C62" // a count or a dimensionless ratio
	UnitPerson                 = "IE"  // persons
)

// kpiUnits is the unitCode of each KPI's kpiValue.
var kpiUnits = map[string]string{
	KPIPM25DailyMean:    UnitMicrogramPerCubicMetre,
	KPIBedOccupancy:     UnitPercent,
	KPISchoolAttendance: UnitPercent,
	KPIParkingOccupancy: UnitPercent,
	KPIMonumentVisitors: UnitPerson,
	KPITrafficMeanSpeed: UnitKilometrePerHour,
}

// kpiInfo is what a KPI entity says about itself.
type kpiInfo struct {
	description, formula string
	// standing maps a value to the SDM currentStanding enum; nil when the
	// KPI has no target (a count, or a figure that is zero by design at
	// night).
	standing func(v float64) string
}

var kpis = map[string]kpiInfo{
	KPIPM25DailyMean: {
		description: "PM2.5 trung bình 24 giờ qua của các trạm quan trắc không khí",
		formula:     "mean over stations of the 24 hourly pm25 values ending now",
		// WHO 2021 24-hour guideline (15) and interim targets (25, 37.5, 50).
		standing: bands(false, 15, 25, 37.5, 50),
	},
	KPIBedOccupancy: {
		description: "Tỷ lệ giường bệnh đang sử dụng ở các bệnh viện",
		formula:     "100 × Σ occupied beds / Σ bedsTotal",
		standing:    bands(false, 80, 85, 90, 93),
	},
	KPISchoolAttendance: {
		description: "Tỷ lệ học sinh đang có mặt ở trường (0 ngoài giờ học)",
		formula:     "100 × Σ studentsPresent / Σ studentsEnrolled",
	},
	KPIParkingOccupancy: {
		description: "Tỷ lệ chỗ đỗ xe đã có xe ở các bãi quanh Kinh thành",
		formula:     "100 × Σ occupiedSpotNumber / Σ totalSpotNumber",
		standing:    bands(false, 70, 85, 95, 99),
	},
	KPIMonumentVisitors: {
		description: "Số lượt khách tham quan các di tích trong giờ qua",
		formula:     "Σ visitorCount",
	},
	KPITrafficMeanSpeed: {
		description: "Tốc độ trung bình của xe tại các điểm đếm xe",
		formula:     "mean of averageVehicleSpeed over counting points",
		standing:    bands(true, 30, 25, 20, 15),
	},
}

var standings = [5]string{"veryGood", "good", "fair", "bad", "veryBad"}

// bands returns a standing function for four thresholds; higherIsBetter
// says which way the thresholds run.
func bands(higherIsBetter bool, t ...float64) func(float64) string {
	return func(v float64) string {
		for i, x := range t {
			if (higherIsBetter && v >= x) || (!higherIsBetter && v <= x) {
				return standings[i]
			}
		}
		return standings[4]
	}
}

// aqiBreakpoints are the US EPA PM2.5 breakpoints (2024 revision; the 9.0
// upper bound of "good" was checked, the others should be re-checked) used
// for an indicative airQualityIndex; Vietnam's VN_AQI is not implemented.
var aqiBreakpoints = []struct {
	cLo, cHi float64
	iLo, iHi float64
	level    string
}{
	{0, 9.0, 0, 50, "good"},
	{9.1, 35.4, 51, 100, "moderate"},
	{35.5, 55.4, 101, 150, "unhealthyForSensitiveGroups"},
	{55.5, 125.4, 151, 200, "unhealthy"},
	{125.5, 225.4, 201, 300, "veryUnhealthy"},
	{225.5, 325.4, 301, 500, "hazardous"},
}

// aqi returns the index and level for a PM2.5 concentration.
func aqi(pm25 float64) (int, string) {
	c := math.Floor(pm25*10) / 10
	for _, b := range aqiBreakpoints {
		if c <= b.cHi {
			if c < b.cLo {
				c = b.cLo
			}
			return int(math.Round(b.iLo + (b.iHi-b.iLo)*(c-b.cLo)/(b.cHi-b.cLo))), b.level
		}
	}
	return 500, "hazardous"
}

// floodStatus names the alarm stage a level is at.
func floodStatus(level float64, a [3]float64) (int, string) {
	switch {
	case level >= a[2]:
		return 3, "alarm3"
	case level >= a[1]:
		return 2, "alarm2"
	case level >= a[0]:
		return 1, "alarm1"
	}
	return 0, "normal"
}

func parkingStatus(occupied, total int) string {
	switch {
	case occupied >= total:
		return "full"
	case float64(occupied) >= 0.85*float64(total):
		return "almostFull"
	}
	return "spacesAvailable"
}

// ---- NGSI-LD normalized attribute builders ---------------------------------

// property is a static Property.
func property(v any) map[string]any { return map[string]any{"type": "Property", "value": v} }

// measured is a Property observed at an instant, with its unit when it has one.
func measured(v any, unit, at string) map[string]any {
	m := map[string]any{"type": "Property", "value": v, "observedAt": at}
	if unit != "" {
		m["unitCode"] = unit
	}
	return m
}

// quantity is a static Property with a unit.
func quantity(v any, unit string) map[string]any {
	return map[string]any{"type": "Property", "value": v, "unitCode": unit}
}

func dateTime(at string) map[string]any {
	return map[string]any{"type": "Property", "value": map[string]any{"@type": "DateTime", "@value": at}}
}

func relationship(object string) map[string]any {
	return map[string]any{"type": "Relationship", "object": object}
}

func point(lat, lon float64) map[string]any {
	return map[string]any{"type": "GeoProperty", "value": map[string]any{"type": "Point", "coordinates": []float64{lon, lat}}}
}

func address() map[string]any {
	return property(map[string]any{"type": "PostalAddress", "addressLocality": "Huế", "addressCountry": "VN"})
}

func (g *Generator) entity(i int, c instant, st []state) Entity {
	s, x := g.sites[i], st[i]
	at := c.stamp
	e := make(Entity, 16)
	e["id"] = s.EntityID()
	e["type"] = s.Type
	e["name"] = property(s.Name)
	e["location"] = point(s.Lat, s.Lon)
	switch s.Type {
	case TypeAirQualityObserved:
		a := x.air
		pm25 := round(a.pm25, 1)
		idx, level := aqi(pm25)
		e["dateObserved"] = dateTime(at)
		e["pm25"] = measured(pm25, UnitMicrogramPerCubicMetre, at)
		e["pm10"] = measured(round(a.pm10, 1), UnitMicrogramPerCubicMetre, at)
		e["no2"] = measured(round(a.no2, 1), UnitMicrogramPerCubicMetre, at)
		e["o3"] = measured(round(a.o3, 1), UnitMicrogramPerCubicMetre, at)
		e["airQualityIndex"] = measured(idx, "", at)
		e["airQualityLevel"] = measured(level, "", at)
	case TypeFloodMonitoring:
		lv := round(x.level, 2)
		stage, status := floodStatus(lv, s.Alarms)
		e["observationDateTime"] = dateTime(at)
		e["stationID"] = property("hue-" + s.ID)
		e["riverName"] = property(s.Category)
		e["currentLevel"] = measured(lv, UnitMetre, at)
		e["alertLevel"] = quantity(s.Alarms[0], UnitMetre)
		e["alarmLevel2"] = quantity(s.Alarms[1], UnitMetre)
		e["dangerLevel"] = quantity(s.Alarms[2], UnitMetre)
		e["alarmStage"] = measured(stage, "", at)
		e["floodLevelStatus"] = measured(status, "", at)
	case TypeTrafficFlowObserved:
		r := x.road
		e["dateObserved"] = dateTime(at)
		e["dateObservedFrom"] = dateTime(c.t.Add(-time.Hour).UTC().Format(time.RFC3339))
		e["dateObservedTo"] = dateTime(at)
		e["intensity"] = measured(int(math.Round(r.intensity)), UnitOne, at)
		e["occupancy"] = measured(round(r.occupancy, 3), UnitOne, at)
		e["averageVehicleSpeed"] = measured(round(r.speed, 1), UnitKilometrePerHour, at)
		e["congested"] = measured(r.congested, "", at)
		e["refRoadSegment"] = relationship("urn:ngsi-ld:RoadSegment:hue-" + s.ID)
	case TypeOffStreetParking:
		total := s.Capacity
		e["category"] = property([]string{"parkingLot", "public", "feeCharged"})
		e["totalSpotNumber"] = quantity(total, UnitOne)
		e["occupiedSpotNumber"] = measured(x.count, UnitOne, at)
		e["availableSpotNumber"] = measured(total-x.count, UnitOne, at)
		e["occupancy"] = measured(round(float64(x.count)/float64(total), 3), UnitOne, at)
		e["status"] = measured(parkingStatus(x.count, total), "", at)
	case TypeTourismPresenceObserved:
		e["dateObserved"] = dateTime(at)
		e["hour"] = measured(c.local.Hour(), "", at)
		e["locationCode"] = property(s.Area)
		e["locationName"] = property(s.Name)
		e["nationality"] = property("ZZ")
		e["aggregationType"] = property("hourly_estimate")
		e["visitorCount"] = measured(x.count, UnitPerson, at)
		e["openNow"] = measured(x.open, "", at)
	case TypeBuilding:
		e["address"] = address()
		e["category"] = property([]string{s.Category})
		if s.Category == CategoryHospital {
			e["bedsTotal"] = quantity(s.Capacity, UnitOne)
			e["bedsAvailable"] = measured(s.Capacity-x.count, UnitOne, at)
			e["bedOccupancyRate"] = measured(round(100*float64(x.count)/float64(s.Capacity), 1), UnitPercent, at)
		} else {
			e["studentsEnrolled"] = quantity(s.Capacity, UnitPerson)
			e["studentsPresent"] = measured(x.count, UnitPerson, at)
			e["attendanceRate"] = measured(round(100*float64(x.count)/float64(s.Capacity), 1), UnitPercent, at)
			e["inSession"] = measured(x.inSession, "", at)
		}
	case TypeKeyPerformanceIndicator:
		info := kpis[s.Category]
		e["description"] = property(info.description)
		e["category"] = property([]string{"quantitative"})
		e["organization"] = property("Thành phố Huế")
		e["calculationMethod"] = property("automatic")
		e["calculationFormula"] = property(info.formula)
		e["sector"] = property(s.Sector)
		e["updatedAt"] = dateTime(at)
		v := round(x.kpi, 1)
		e["kpiValue"] = measured(v, kpiUnits[s.Category], at)
		if info.standing != nil && x.kpiSet {
			e["currentStanding"] = measured(info.standing(v), "", at)
		}
	}
	return e
}
