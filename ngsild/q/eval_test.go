package q

import (
	"encoding/json"
	"strings"
	"testing"
)

// sampleEntity maps an attribute path (attr or attr.sub) to the values a
// getter returns: one per instance, decoded from JSON.
var sampleEntity = map[string][]any{
	"temperature":            {21.5},
	"temperature.observedAt": {"2026-03-01T10:00:00Z"},
	"temperature.unitCode":   {"CEL"},
	"name":                   {"Kim Long"},
	"status":                 {"ok"},
	"location":               {map[string]any{"type": "Point", "coordinates": []any{106.7, 10.8}}},
	"address":                {map[string]any{"city": "Huế", "zip": "49000", "geo": map[string]any{"lat": 16.46}, "note": nil}},
	"address.streetAddress":  {"12 Lê Lợi"},
	"properties":             {map[string]any{"color": "red", "size": 3.0, "tags": []any{"a", "b"}}},
	"tags":                   {[]any{"park", "river"}},
	"readings":               {[]any{10.0, 20.0, 30.0}},
	"refDevice":              {"urn:ngsi-ld:Device:x"},
	"brandName":              {"Mercedes", "BMW"},
	"active":                 {true},
	"opens":                  {"08:30:00Z"},
	"installedOn":            {"2024-05-17"},
	"label":                  {map[string]any{"en": "red", "fr": "rouge"}},
	"nothing":                {nil},
	"empty":                  {[]any{}},
	"mixed":                  {[]any{"x", 5.0}},
	"count":                  {7},
	"jsonCount":              {json.Number("7")},
	"seen":                   {"2026-03-01T12:00:00+02:00"},
}

func sampleGet(t testing.TB) func(Path) ([]any, bool) {
	return func(p Path) ([]any, bool) {
		if p.Trail != nil {
			t.Errorf("getter called with Trail %v; Eval must resolve trails itself", p.Trail)
		}
		key := p.Attr
		for _, s := range p.Sub {
			key += "." + s
		}
		v, ok := sampleEntity[key]
		return v, ok
	}
}

func TestEval(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		// existence
		{`temperature`, true},
		{`humidity`, false},
		{`temperature.observedAt`, true},
		{`temperature.observedBy`, false},
		{`nothing`, true},
		{`empty`, true},
		// numbers
		{`temperature==21.5`, true},
		{`temperature==21`, false},
		{`temperature!=21`, true},
		{`temperature!=21.5`, false},
		{`temperature>20`, true},
		{`temperature>21.5`, false},
		{`temperature>=21.5`, true},
		{`temperature<21.5`, false},
		{`temperature<=21.5`, true},
		{`temperature<2.15e1`, false},
		{`temperature==20..22`, true},
		{`temperature==21.5..30`, true},
		{`temperature==22..30`, false},
		{`temperature==30..20`, false},
		{`temperature!=20..22`, false},
		{`temperature!=22..30`, true},
		{`temperature==1,21.5,3`, true},
		{`temperature!=1,2,3`, true},
		{`count==7`, true},
		{`jsonCount>6`, true},
		// type mismatches: never match, except != which treats them as unequal
		{`temperature=="21.5"`, false},
		{`temperature!="21.5"`, true},
		{`temperature>"20"`, false},
		{`temperature~=21`, false},
		{`temperature!~=21`, false},
		{`status==1`, false},
		{`active=="true"`, false},
		{`location==1`, false},
		{`location!=1`, true},
		{`location~=Point`, false},
		{`nothing==1`, false},
		{`nothing!=1`, true},
		// strings
		{`name=="Kim Long"`, true},
		{`name=="kim long"`, false},
		{`status=="ok","warn"`, true},
		{`status=="warn","error"`, false},
		{`status!="warn","error"`, true},
		{`status!="ok","error"`, false},
		{`status>"a"`, true},
		{`status<"a"`, false},
		{`status=="a".."z"`, true},
		{`status=="p".."z"`, false},
		// regular expressions (unanchored)
		{`name~=Kim`, true},
		{`name~=Long`, true},
		{`name~=^Long`, false},
		{`name~=(?i)^kim`, true},
		{`name~=(Lee|Long)$`, true},
		{`name!~=Lee`, true},
		{`name!~=Kim`, false},
		{`tags~=^riv`, true},
		{`tags!~=^riv`, false},
		{`tags!~=^lake`, true},
		{`missing~=x`, false},
		{`missing!~=x`, false},
		// missing attributes are false for every operator
		{`missing==1`, false},
		{`missing!=1`, false},
		{`missing!=1..2`, false},
		{`missing<1`, false},
		// sub-attributes and trailing paths
		{`address.streetAddress~=^12`, true},
		{`address.streetAddress=="12 Lê Lợi"`, true},
		{`address[city]=="Huế"`, true},
		{`address[zip]=="49000"`, true},
		{`address[zip]==49000`, false},
		{`address[geo.lat]>16`, true},
		{`address[geo.lon]`, false},
		{`address[country]`, false},
		{`address[country]!="VN"`, false},
		{`address[note]`, true},
		{`address[city.name]`, false},
		{`location[type]=="Point"`, true},
		{`location[coordinates]==106.7`, true},
		{`location[coordinates]>100`, true},
		{`properties[color]=="red"`, true},
		{`properties[color]!="blue"`, true},
		{`properties[color]!="red"`, false},
		{`properties[size]==1..5`, true},
		{`properties[tags]=="b"`, true},
		{`properties[color.shade]`, false},
		{`status[x]`, false},
		{`label[en]=="red"`, true},
		{`label[fr]=="red"`, false},
		{`label[*]=="rouge"`, true},
		{`label[*]!="blue"`, true},
		{`label[*]!="red"`, false},
		{`label[de]`, false},
		// arrays: any element for positive operators, none for negated ones
		{`tags=="river"`, true},
		{`tags=="forest"`, false},
		{`tags!="river"`, false},
		{`tags!="forest"`, true},
		{`tags=="forest","park"`, true},
		{`tags!="forest","park"`, false},
		{`readings>25`, true},
		{`readings>30`, false},
		{`readings<=10`, true},
		{`readings==15..19`, false},
		{`readings==15..20`, true},
		{`empty=="x"`, false},
		{`empty!="x"`, true},
		{`mixed=="x"`, true},
		{`mixed>4`, true},
		{`mixed~=x`, true},
		{`mixed!~=y`, true},
		// multiple instances (datasetId): any value
		{`brandName=="BMW"`, true},
		{`brandName!="Mercedes"`, false},
		{`brandName!="Audi"`, true},
		// Relationship targets / URIs
		{`refDevice==urn:ngsi-ld:Device:x`, true},
		{`refDevice=="urn:ngsi-ld:Device:x"`, true},
		{`refDevice==urn:ngsi-ld:Device:y`, false},
		{`refDevice!=urn:ngsi-ld:Device:y`, true},
		{`refDevice==urn:ngsi-ld:Device:y,urn:ngsi-ld:Device:x`, true},
		// booleans
		{`active==true`, true},
		{`active==false`, false},
		{`active!=false`, true},
		// temporal values compare as instants of the same type
		{`temperature.observedAt>=2026-03-01T00:00:00Z`, true},
		{`temperature.observedAt==2026-03-01T10:00:00.000Z`, true},
		{`temperature.observedAt<2026-03-01T10:00:00.000001Z`, true},
		{`temperature.observedAt>2026-03-01T10:00:00Z`, false},
		{`temperature.observedAt==2026-01-01T00:00:00Z..2026-12-31T23:59:59Z`, true},
		{`temperature.observedAt==2026-03-01`, false},
		{`temperature.observedAt>"2026"`, true},
		{`seen==2026-03-01T10:00:00Z`, true},
		{`opens<09:00:00Z`, true},
		{`opens==08:30:00Z`, true},
		{`opens==08:30:00,000Z`, true},
		{`opens>08:30:00.000001Z`, false},
		{`installedOn>2024-01-01`, true},
		{`installedOn==2024-05-17`, true},
		{`installedOn==2024-05-17T00:00:00Z`, false},
		{`name>2024-01-01`, false},
		// logic and precedence
		{`temperature>100|status=="ok";name=="nobody"`, false},
		{`(temperature>100|status=="ok");name=="Kim Long"`, true},
		{`temperature>100;status=="ok"|name=="Kim Long"`, true},
		{`temperature>20;status=="ok"|(pm25>=35.5;pm25<55)`, true},
		{`humidity|status=="ok"`, true},
		{`humidity;status=="ok"`, false},
	}
	get := sampleGet(t)
	for _, tc := range tests {
		e, err := Parse(tc.q)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.q, err)
			continue
		}
		if got := Eval(e, get); got != tc.want {
			t.Errorf("Eval(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestEvalPointersAndNil(t *testing.T) {
	get := sampleGet(t)
	a := Term{Path: Path{Attr: "temperature"}}
	b := Term{Path: Path{Attr: "humidity"}}
	if !Eval(&And{L: &a, R: a}, get) || Eval(&Or{L: b, R: &b}, get) {
		t.Error("pointer forms evaluate differently from values")
	}
	if Eval(nil, get) || Eval((*Term)(nil), get) {
		t.Error("nil Expr must not match")
	}
	if got := strings.Join(Attrs(&And{L: &a, R: Or{L: b, R: a}}), ","); got != "temperature,humidity" {
		t.Errorf("Attrs with pointers = %s", got)
	}
}
