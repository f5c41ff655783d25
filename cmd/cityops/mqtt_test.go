package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// serveBroker starts serve with its MQTT broker on a free port, a user
// "gateway" for key "hue", and an API key for data; it returns the
// server's URL, the broker's address and the API key.
func serveBroker(t *testing.T) (base, addr, key string) {
	t.Helper()
	dir := t.TempDir()
	users := filepath.Join(dir, "mqtt-users")
	if err := os.WriteFile(users, []byte("gateway correct-horse-battery hue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	st, key, errs := run(t, "", "apikey", "create", "-name", "iot", "-scopes", "data:read,data:write", "-data", dir)
	if st != 0 {
		t.Fatalf("apikey create = %d %q", st, errs)
	}
	base, _ = serve(t, "-data", dir, "-mqtt-listen", addr, "-mqtt-users", users)
	return base, addr, strings.TrimSpace(key)
}

type deviceList struct {
	Items []struct {
		ID       string     `json:"id"`
		LastSeen *time.Time `json:"last_seen_at"`
	} `json:"items"`
}

func getDevices(t *testing.T, base, key string) deviceList {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out deviceList
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServeMQTTBroker runs serve with its own MQTT broker: a device
// registered over the API publishes a measurement, which is stored and
// counted in /metrics.
func TestServeMQTTBroker(t *testing.T) {
	base, addr, key := serveBroker(t)
	api := func(method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := api("POST", "/api/v1/devices", `{"id": "aq-01", "key": "hue", "entity_id": "urn:ngsi-ld:AirQualityObserved:serve-mqtt",
		"entity_type": "AirQualityObserved", "attrs": [{"object_id": "p", "name": "pm25"}]}`)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create device: %s", res.Status)
	}

	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("serve-test").
		SetUsername("gateway").SetPassword("correct-horse-battery"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish("/hue/aq-01/attrs", 1, false, `{"p": 12.5}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		out := getDevices(t, base, key)
		if len(out.Items) == 1 && out.Items[0].LastSeen != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the measurement was not stored: %+v", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// How many roll-up sums wait in memory depends on when the last
	// flush (every 5 s) came; none may have failed.
	for _, want := range []string{`cityops_mqtt_messages_total{outcome="accepted"} 1`, `cityops_mqtt_queue_depth 0`,
		"\ncityops_rollup_sums_in_memory ", "\ncityops_rollup_flush_failures_total 0\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestServeMQTTUsage(t *testing.T) {
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak")
	os.WriteFile(weak, []byte("gateway short\n"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-mqtt-listen", "127.0.0.1:0"}, "-mqtt-listen: give -mqtt-users FILE"},
		{[]string{"-mqtt-users", weak}, "-mqtt-users: only with -mqtt-listen"},
		{[]string{"-mqtt-listen", "nowhere", "-mqtt-users", weak}, fmt.Sprintf("-mqtt-listen %q", "nowhere")},
		{[]string{"-mqtt-listen", "127.0.0.1:0", "-mqtt-users", weak}, "shorter than 12 characters"},
		{[]string{"-mqtt-listen", "127.0.0.1:0", "-mqtt-users", filepath.Join(dir, "missing")}, "-mqtt-users: mqtt users"},
	} {
		st, _, errs := run(t, "", append([]string{"serve", "-data", dir}, tt.args...)...)
		if st != exitUsage || !strings.Contains(errs, tt.want) {
			t.Errorf("serve %v = %d %q; want %d with %q", tt.args, st, errs, exitUsage, tt.want)
		}
	}
}

// TestSimulateMQTT feeds serve's broker from `cityops simulate -mqtt`:
// the first update goes over NGSI-LD and registers the devices, later
// ones go over MQTT and are stored.
func TestSimulateMQTT(t *testing.T) {
	base, addr, key := serveBroker(t)
	t.Setenv("CITYOPS_MQTT_PASSWORD", "correct-horse-battery")
	st, out, errs := run(t, "", "simulate", "-url", base, "-key", key, "-mqtt", "tcp://"+addr, "-mqtt-user", "gateway",
		"-for", "3s", "-every", "1m", "-speed", "600")
	if st != 0 || !strings.Contains(out, "published ") || strings.Contains(out, "published 0 ") {
		t.Fatalf("simulate = %d %q %q", st, out, errs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		heard := 0
		devs := getDevices(t, base, key)
		for _, d := range devs.Items {
			if d.LastSeen != nil {
				heard++
			}
		}
		if heard > 0 && heard > len(devs.Items)/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d devices heard", heard, len(devs.Items))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _, errs := run(t, "", "simulate", "-url", base, "-key", key, "-mqtt", "tcp://"+addr, "-mqtt-user", "gateway", "-mqtt-password", "wrong-password-1", "-for", "1s"); st == 0 {
		t.Errorf("simulate with a wrong MQTT password: %d %q", st, errs)
	}
}
