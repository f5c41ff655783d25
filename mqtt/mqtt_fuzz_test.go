package mqtt

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds the measurement parser the topics and payloads any
// device may publish: a message is refused with an error, or it is
// exactly the device of its topic with a JSON object of measurements,
// observed at its TimeInstant (else at the time of arrival).
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ topic, payload string }{
		{"/hue/aq-01/attrs", `{"p": 41.5, "n": 18, "x": 1, "TimeInstant": "2026-11-28T01:00:00Z"}`},
		{"/hue/aq-01/attrs", `{"p": 42.0, "TimeInstant": "2026-11-28T08:01:00.123456789+07:00"}`},
		{"/4jggokgpepnvsb2uv4s40d59ov/motion001/attrs", `{"c": 1, "TimeInstant": 1764291600}`},
		{"/k/d/attrs", `{"v": [1, 2, {"a": null}], "s": "Kim Long", "b": true, "n": null}`},
		{"/k/d/attrs", `{"TimeInstant": "2026-02-30T00:00:00Z"}`},
		{"/k/d/attrs", `{"TimeInstant": "0000-01-01T00:00:00+01:00", "v": 1}`},
		{"/k/d/attrs", `{}`},
		{"/k/d/attrs", `null`},
		{"/k/d/attrs", `[{"v": 1}]`},
		{"/k/d/attrs", `not json`},
		{"/k/d/attrs", `{"v": 1e400}`},
		{"/k/d/attrs", `{"v": 1} {"v": 2}`},
		{"/k/d/attrs", ""},
		{"/hue/aq-01/cmd", `{"p": 1}`},
		{"hue/aq-01/attrs", `{"p": 1}`},
		{"//aq-01/attrs", `{"p": 1}`},
		{"/hue/a/b/attrs", `{"p": 1}`},
		{"/+/#/attrs", `{"p": 1}`},
		{"$share/cityops//hue/aq-01/attrs", `{"p": 1}`},
	} {
		f.Add(s.topic, []byte(s.payload))
	}
	now := time.Date(2026, 11, 28, 1, 2, 3, 4, time.UTC)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		m, err := parse(topic, payload, now)
		if err != nil {
			if !reflect.ValueOf(m).IsZero() {
				t.Fatalf("parse(%q) = %+v with error %v; want the zero measurement", topic, m, err)
			}
			return
		}
		key, id, ok := splitTopic(topic)
		if !ok || m.Key != key || m.DeviceID != id {
			t.Fatalf("parse(%q) = key %q, device %q; topic split as %q, %q, %v", topic, m.Key, m.DeviceID, key, id, ok)
		}
		if got := topicOf(m); got != topic {
			t.Fatalf("topicOf(parse(%q)) = %q", topic, got)
		}
		if strings.ContainsAny(m.Key+m.DeviceID, "/") {
			t.Fatalf("key %q or device %q holds a topic separator", m.Key, m.DeviceID)
		}
		if len(payload) > maxPayload {
			t.Fatalf("a payload of %d bytes was accepted", len(payload))
		}
		if m.Payload == nil {
			t.Fatalf("parse(%q, %q): nil payload", topic, payload)
		}
		if s, isStr := m.Payload["TimeInstant"].(string); isStr {
			t.Fatalf("TimeInstant %q left among the measurements", s)
		}
		// The observation time is the payload's TimeInstant, else now.
		var raw map[string]any
		if err := json.Unmarshal(payload, &raw); err != nil {
			t.Fatalf("accepted payload %q does not decode: %v", payload, err)
		}
		want := now
		if s, ok := raw["TimeInstant"].(string); ok {
			tt, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatalf("TimeInstant %q accepted but not a date-time", s)
			}
			want = tt
		}
		if !m.At.Equal(want) {
			t.Fatalf("observed at %v; want %v", m.At, want)
		}
	})
}

// FuzzReadUsers reads arbitrary -mqtt-users files: a file is refused with
// an error that never quotes a password, or every user has a name, a
// password of at least minPassword bytes and keys that are topic levels,
// and writing the users back gives a file that reads the same.
func FuzzReadUsers(f *testing.F) {
	for _, s := range []string{
		"# devices\ngateway-hue  correct-horse-battery  hue\n\nanyone  staple-staple-staple\n",
		"gw-1 0123456789ab hue,danang\r\ngw-2\tabcdefghijkl\n",
		"gw short\n",
		"gw correct-horse-battery a,,b\n",
		"gw correct-horse-battery a/b,+,#\n",
		"gw correct-horse-battery\ngw staple-staple-staple\n",
		"gw correct-horse-battery k extra\n",
		"   \n# only a comment\n",
		"",
		"\xff\xfe correct-horse-battery\n",
		"gw correct\u00a0horse-battery\n",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "mqtt-users")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		users, err := ReadUsers(path)
		if err != nil {
			if users != nil {
				t.Fatalf("ReadUsers = %v with error %v", users, err)
			}
			for _, w := range strings.Fields(string(data)) {
				if len(w) >= minPassword && !strings.ContainsAny(w, "#,") && strings.Contains(err.Error(), w) &&
					!strings.Contains(path, w) && isPasswordField(data, w) {
					t.Fatalf("error %q quotes the password %q", err, w)
				}
			}
			return
		}
		if len(users) == 0 {
			t.Fatal("no users and no error")
		}
		var b strings.Builder
		seen := map[string]bool{}
		for _, u := range users {
			if u.Name == "" || seen[u.Name] || strings.ContainsFunc(u.Name+u.Password, isSpace) || strings.HasPrefix(u.Name, "#") {
				t.Fatalf("bad user name %q (password %q)", u.Name, u.Password)
			}
			seen[u.Name] = true
			if len(u.Password) < minPassword {
				t.Fatalf("user %q has a password of %d bytes", u.Name, len(u.Password))
			}
			for _, k := range u.Keys {
				if k == "" || strings.ContainsAny(k, "/+#") || strings.ContainsFunc(k, isSpace) {
					t.Fatalf("user %q has key %q, not a topic level", u.Name, k)
				}
			}
			b.WriteString(u.Name + " " + u.Password)
			if len(u.Keys) > 0 {
				b.WriteString(" " + strings.Join(u.Keys, ","))
			}
			b.WriteString("\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := ReadUsers(path)
		if err != nil {
			t.Fatalf("users written back do not read: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(again, users) {
			t.Fatalf("users read back as %+v; want %+v", again, users)
		}
	})
}

// isPasswordField reports whether w stands second on a line of data,
// where passwords go, and nowhere else (a name or a key may be quoted).
func isPasswordField(data []byte, w string) bool {
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		for i, x := range strings.Fields(line) {
			if strings.Contains(x, w) && (i != 1 || x != w) {
				return false
			}
			found = found || x == w
		}
	}
	return found
}

func isSpace(r rune) bool { return strings.TrimSpace(string(r)) == "" }
