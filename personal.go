package cityops

import (
	"strings"
	"time"
)

// PersonalDataQuery names one reporter by the e-mail address or the phone
// number they gave, for a request to see the data held about them.
type PersonalDataQuery struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Validate checks that exactly one of e-mail and phone is given.
func (q PersonalDataQuery) Validate() error {
	var v Validation
	email, phone := NormalizeEmail(q.Email), NormalizePhone(q.Phone)
	switch {
	case email == "" && phone == "":
		v.Add("email", "give an e-mail address or a phone number")
	case email != "" && phone != "":
		v.Add("phone", "give an e-mail address or a phone number, not both")
	case q.Phone != "" && (!phoneOK(q.Phone) || len(phone) < 6):
		v.Add("phone", "is not a phone number")
	case email != "" && !strings.Contains(email, "@"):
		v.Add("email", "is not an e-mail address")
	}
	return v.Err()
}

// PersonalData is what cityops holds about one reporter: their reports
// with the identity and contact they gave, and what they wrote.
type PersonalData struct {
	ExportedAt time.Time         `json:"exported_at"`
	Reports    []*PersonalReport `json:"reports"`
}

// PersonalReport is one report of a personal-data export: its public
// fields, the reporter's fields, the citizen's own timeline entries
// (the report, reopening notes, confirmation, rating) and its photos.
type PersonalReport struct {
	*Report
	CitizenEvents []*Event `json:"citizen_events"`
	// PhotoURLs are the photos' paths (/media/HASH.jpg); the HTTP API
	// makes them absolute.
	PhotoURLs []string `json:"photo_urls,omitempty"`
}

// NormalizeEmail returns an e-mail address as reports are matched by it:
// trimmed and in lower case.
func NormalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// NormalizePhone returns a phone number as reports are matched by it: its
// digits only, and a Vietnamese number in its national form, so that
// "+84 905 123 456", "0084905123456", "84905123456" and "0905.123.456" are
// one number. Other international numbers keep their '+'.
func NormalizePhone(s string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+84"):
		return "0" + n[3:]
	case strings.HasPrefix(n, "0084"):
		return "0" + n[4:]
	case strings.HasPrefix(n, "84") && len(n) == 11:
		// 84 and a nine-digit mobile number: a national number has a
		// leading 0, never an 8.
		return "0" + n[2:]
	case strings.HasPrefix(n, "00"):
		return "+" + n[2:]
	}
	return n
}
