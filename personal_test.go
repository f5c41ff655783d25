package cityops

import "testing"

func TestNormalizePhone(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0905 123 456", "0905123456"},
		{"0905.123.456", "0905123456"},
		{"(0234) 3822-123", "02343822123"},
		{"+84 905 123 456", "0905123456"},
		{"+84905123456", "0905123456"},
		{"0084 905 123 456", "0905123456"},
		{"84905123456", "0905123456"},
		{"+33 1 23 45 67 89", "+33123456789"},
		{"0033 1 23 45 67 89", "+33123456789"},
		{"", ""},
	} {
		if got := NormalizePhone(tt.in); got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := NormalizeEmail("  Dan@Example.VN "); got != "dan@example.vn" {
		t.Errorf("NormalizeEmail = %q", got)
	}
}

func TestPersonalDataQuery(t *testing.T) {
	for _, tt := range []struct {
		q     PersonalDataQuery
		field string // "" when valid
	}{
		{PersonalDataQuery{Email: "a@b.vn"}, ""},
		{PersonalDataQuery{Phone: "+84 905 123 456"}, ""},
		{PersonalDataQuery{}, "email"},
		{PersonalDataQuery{Email: "a@b.vn", Phone: "0905123456"}, "phone"},
		{PersonalDataQuery{Phone: "12"}, "phone"},
		{PersonalDataQuery{Phone: "0905-abc"}, "phone"},
		{PersonalDataQuery{Email: "nobody"}, "email"},
	} {
		err := tt.q.Validate()
		if got := ErrorFields(err)[tt.field]; (tt.field == "") != (err == nil) || (tt.field != "" && got == "") {
			t.Errorf("%+v: %v; want a problem with %q", tt.q, err, tt.field)
		}
	}
}
