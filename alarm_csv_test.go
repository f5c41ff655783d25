package cityops_test

import (
	"strings"
	"testing"

	"github.com/cityops/cityops"
)

// TestParseAlarmRulesCSV: a file of rules is read whole, or refused with
// every problem by line and column.
func TestParseAlarmRulesCSV(t *testing.T) {
	good := "\ufeffcode,name,severity,entity_type,attr,kind,op,value,clear,for_minutes,window_minutes,count,auto_clear,enabled,name_en,tenant\n" +
		"pm,PM2.5,major,AirQualityObserved,pm25,threshold,>,50,45,60,,,yes,true,PM2.5 high,\n" +
		"gauge-silent,Trạm mất tín hiệu,major,FloodMonitoring,,silent,,0,,,30,,,false,,thuy-loi\n"
	rules, err := cityops.ParseAlarmRulesCSV(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 || rules[0].Value != 50 || *rules[0].Clear != 45 || rules[0].ForMinutes != 60 || !rules[0].AutoClear ||
		!rules[0].Enabled || rules[0].Names["en"] != "PM2.5 high" || rules[1].Kind != cityops.RuleSilent || rules[1].WindowMinutes != 30 ||
		rules[1].Enabled || !rules[1].AutoClear || rules[1].Clear != nil || rules[0].Tenant != "" || rules[1].Tenant != "thuy-loi" {
		t.Fatalf("rules: %+v %+v", rules[0], rules[1])
	}
	for _, tt := range []struct{ name, csv, want string }{
		{"empty", "", "csv"},
		{"unknown column", "code,name,colour\n", "line 1"},
		{"missing column", "code,name\n", `the column "severity" is required`},
		{"bad number", "code,name,severity,entity_type,attr,kind,op,value\nx,X,major,T,a,threshold,>,fifty\n", "line 2: value"},
		{"bad boolean", "code,name,severity,entity_type,kind,window_minutes,enabled\nx,X,major,T,silent,5,maybe\n", "line 2: enabled"},
		{"duplicate code", "code,name,severity,entity_type,kind,window_minutes\nx,X,major,T,silent,5\nx,Y,major,T,silent,5\n", "line 3: code"},
		{"rule invalid", "code,name,severity,entity_type,attr,kind,value\nx,X,major,T,a,threshold,5\n", "line 2: op"},
		{"bad tenant", "code,name,severity,entity_type,kind,window_minutes,tenant\nx,X,major,T,silent,5,thừa thiên\n", "line 2: tenant"},
		{"bad quoting", "code,name,severity,entity_type,kind\n\"x,X,major,T,silent\n", "line 2"},
	} {
		_, err := cityops.ParseAlarmRulesCSV(strings.NewReader(tt.csv))
		e, ok := err.(*cityops.Error)
		if !ok || e.Code != cityops.EINVALID || !strings.Contains(e.Error(), tt.want) {
			t.Errorf("%s: %v; want an invalid-input error mentioning %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseAlarmRulesCSV: any file is either rules that validate or a
// clear invalid-input error, never a crash.
func FuzzParseAlarmRulesCSV(f *testing.F) {
	f.Add("code,name,severity,entity_type,attr,kind,op,value,clear\npm,PM,major,T,pm25,threshold,>,50,45\n")
	f.Add("code,name,severity,entity_type,kind,window_minutes,count,op,value,attr\nc,C,minor,T,count,10,3,<=,-1e308,a\n")
	f.Add("\ufeffcode,name\n\"a\"\"b\",x\n")
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := cityops.ParseAlarmRulesCSV(strings.NewReader(s))
		if err != nil {
			if cityops.ErrorCode(err) != cityops.EINVALID {
				t.Fatalf("error of code %s: %v", cityops.ErrorCode(err), err)
			}
			return
		}
		for _, r := range rules {
			if err := r.Validate(); err != nil {
				t.Fatalf("a parsed rule does not validate: %v", err)
			}
		}
	})
}
