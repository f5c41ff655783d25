package http

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"

	"github.com/cityops/cityops"
)

// FuzzRulesCSV imports alarm-rule files as the rules page does and
// exports what it would save as the download does: the download imports
// back to the same rules, formula guards and all.
func FuzzRulesCSV(f *testing.F) {
	header := strings.Join(cityops.AlarmRuleColumns, ",") + "\n"
	for _, s := range []string{
		header + `pm25-high,PM2.5 cao,PM2.5 high,environment,major,AirQualityObserved,,P10,pm25,threshold,>,50,45,60,,,true,env.air,SXD,24,"Bụi mịn vượt ngưỡng",true` + "\n",
		header + `flood,"=HYPERLINK(""http://x"")",'=SUM(1),,critical,-WaterObserved,urn:ngsi-ld:WaterObserved:1,,@level,rate,>=,0.5,,,30,,false,,,,+1 cmd|' /C calc'!A0,false` + "\n",
		"\ufeffcode,name,severity,entity_type,kind,window_minutes\nsilent,'-silent,minor,https://smartdatamodels.org/Device,silent,30\n",
		"code,name,severity,entity_type,kind,attr,op,value,window_minutes,count\nc,''=x,minor,T,count,a,<=,-1e-7,10,3\n",
		"code,name,severity,entity_type,kind,attr,op,value,message\nm,N,warning,T,threshold,a,<,1e21,'\ttab\n",
		"code,name,severity,entity_type,kind,window_minutes\nlong,=" + strings.Repeat("é", 299) + ",minor,T,silent,30\n",
		"code,name\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		rules, err := cityops.ParseAlarmRulesCSV(strings.NewReader(file))
		if err != nil {
			return // FuzzParseAlarmRulesCSV covers refusals
		}
		for _, x := range rules {
			expandRule(x)
			if x.Validate() != nil {
				return // the import refuses the file
			}
		}
		var b bytes.Buffer
		b.WriteString("\ufeff")
		cw := csv.NewWriter(&b)
		cw.Write(cityops.AlarmRuleColumns)
		for _, x := range rules {
			cw.Write(ruleRecord(compactRule(x)))
		}
		cw.Flush()
		back, err := cityops.ParseAlarmRulesCSV(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("the download does not import: %v\n%s", err, b.String())
		}
		if len(back) != len(rules) {
			t.Fatalf("%d rules exported, %d imported", len(rules), len(back))
		}
		for i, x := range back {
			expandRule(x)
			if err := x.Validate(); err != nil {
				t.Fatalf("rule %d does not validate after the round trip: %v", i, err)
			}
			if !reflect.DeepEqual(x, rules[i]) {
				t.Fatalf("rule exported as\n%+v\nimports as\n%+v\nfile:\n%s", rules[i], x, b.String())
			}
		}
	})
}
