package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/simulate"
)

// runSimulate sends live Huế data to a running cityops through its
// NGSI-LD API, as a city's sensors and gateways would.
func runSimulate(ctx context.Context, args []string, env *Env) int {
	fs, _ := flagSet("simulate", "[flags]", env)
	base := fs.String("url", "http://127.0.0.1:8080", "base `URL` of the cityops to feed")
	key := fs.String("key", "", "API `key` with the data:write scope (or CITYOPS_KEY / CITYOPS_KEY_FILE)")
	every := fs.Duration("every", time.Minute, "simulated time between two updates")
	speed := fs.Float64("speed", 1, "how much faster than real time the simulated clock runs")
	seed := fs.Int64("seed", 1, "random `seed`: the same seed gives the same city")
	flood := fs.String("flood", "", "a flood on the Hương and Bồ rivers: `START-IN,RISE,PEAK-METRES` such as 30m,6h,4.2 (Kim Long's peak)")
	duration := fs.Duration("for", 0, "stop after this long (real time); 0 runs until interrupted")
	mqttURL := fs.String("mqtt", "", "send measurements as devices do, over MQTT to this `broker` (such as tcp://127.0.0.1:1883, serve's -mqtt-listen): "+
		"the first update of each entity still goes over NGSI-LD, and its device is registered")
	mqttUser := fs.String("mqtt-user", "", "`username` at the MQTT broker")
	mqttPassword := fs.String("mqtt-password", "", "`password` at the MQTT broker (better CITYOPS_MQTT_PASSWORD_FILE)")
	mqttKey := fs.String("mqtt-key", "hue", "service `key` of the simulated devices, the topics' first level")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if *key == "" {
		return fail(env.Stderr, exitUsage, errors.New("simulate: give -key (an API key with the data:write scope)"))
	}
	if *every <= 0 || *speed <= 0 {
		return fail(env.Stderr, exitUsage, errors.New("simulate: -every and -speed must be positive"))
	}
	opts := simulate.Options{}
	if *flood != "" {
		f, err := parseFlood(*flood, time.Now())
		if err != nil {
			return fail(env.Stderr, exitUsage, err)
		}
		opts.Flood = f
	}
	gen, err := simulate.New(*seed, simulate.HueSites(), opts)
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var pub *mqttPublisher
	if *mqttURL != "" {
		if pub, err = newMQTTPublisher(*mqttURL, *mqttUser, *mqttPassword, *mqttKey); err != nil {
			return fail(env.Stderr, exitError, err)
		}
		defer pub.close()
	}
	sent, batches := 0, 0
	err = gen.Stream(ctx, time.Now(), *every, *speed, func(list []simulate.Entity) error {
		if pub != nil && batches > 0 {
			return pub.publish(list)
		}
		for i := 0; i < len(list); i += 100 {
			chunk := list[i:min(i+100, len(list))]
			if err := postBatch(ctx, client, *base, *key, chunk); err != nil {
				return err
			}
			sent += len(chunk)
			batches++
		}
		if pub != nil {
			if err := pub.register(ctx, client, *base, *key, list); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stderr, "\rsimulate: %d entity updates in %d batches, last at %s   ", sent, batches, time.Now().Format("15:04:05"))
		return nil
	})
	fmt.Fprintln(env.Stderr)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return fail(env.Stderr, exitError, err)
	}
	fmt.Fprintf(env.Stdout, "sent %d entity updates in %d batches\n", sent, batches)
	if pub != nil {
		fmt.Fprintf(env.Stdout, "published %d measurements of %d devices over MQTT\n", pub.sent, len(pub.devices))
	}
	return exitOK
}

// mqttPublisher sends the simulated sensors' measurements as their
// devices would: /{key}/{deviceId}/attrs, IoT Agent JSON, QoS 1.
type mqttPublisher struct {
	client  paho.Client
	key     string
	devices map[string]string // entity id → device id
	sent    int
}

func newMQTTPublisher(broker, user, password, key string) (*mqttPublisher, error) {
	opts := paho.NewClientOptions().AddBroker(broker).SetClientID("cityops-simulate-" + auth.NewToken(4)).
		SetUsername(user).SetPassword(password).SetConnectTimeout(10 * time.Second).SetAutoReconnect(true)
	c := paho.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("simulate: MQTT broker %s: %v", broker, t.Error())
	}
	return &mqttPublisher{client: c, key: key, devices: map[string]string{}}, nil
}

func (p *mqttPublisher) close() { p.client.Disconnect(250) }

// register registers the device of every entity that measures something
// through POST /api/v1/devices; one registered already is fine.
func (p *mqttPublisher) register(ctx context.Context, c *http.Client, base, key string, list []simulate.Entity) error {
	for _, e := range list {
		dev, ok := simulate.Device(e, p.key)
		if !ok {
			continue
		}
		b, err := json.Marshal(dev)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/api/v1/devices", bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusConflict {
			return fmt.Errorf("register device %s: %s: %s", dev.ID, res.Status, bytes.TrimSpace(body))
		}
		p.devices[dev.EntityID] = dev.ID
	}
	return nil
}

// publish sends the measurements of the entities that have a device and
// waits for the broker's acknowledgements.
func (p *mqttPublisher) publish(list []simulate.Entity) error {
	var toks []paho.Token
	for _, e := range list {
		id, _ := e["id"].(string)
		dev, ok := p.devices[id]
		if !ok {
			continue
		}
		b, err := json.Marshal(simulate.Measurement(e))
		if err != nil {
			return err
		}
		toks = append(toks, p.client.Publish("/"+p.key+"/"+dev+"/attrs", 1, false, b))
	}
	for _, t := range toks {
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			return fmt.Errorf("simulate: MQTT publish: %v", t.Error())
		}
		p.sent++
	}
	return nil
}

// postBatch upserts entities through /ngsi-ld/v1/entityOperations/upsert.
func postBatch(ctx context.Context, c *http.Client, base, key string, list []simulate.Entity) error {
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+"/ngsi-ld/v1/entityOperations/upsert", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusNoContent && res.StatusCode != http.StatusCreated {
		return fmt.Errorf("upsert answered %s: %s", res.Status, bytes.TrimSpace(body))
	}
	return nil
}

// parseFlood reads START-IN,RISE,PEAK-METRES.
func parseFlood(s string, now time.Time) (*simulate.FloodEvent, error) {
	parts := strings.Split(s, ",")
	bad := fmt.Errorf("-flood %q: want START-IN,RISE,PEAK-METRES such as 30m,6h,4.2", s)
	if len(parts) != 3 {
		return nil, bad
	}
	in, err1 := time.ParseDuration(strings.TrimSpace(parts[0]))
	rise, err2 := time.ParseDuration(strings.TrimSpace(parts[1]))
	peak, err3 := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
	if err1 != nil || err2 != nil || err3 != nil || rise <= 0 || peak <= 0 || peak > 15 {
		return nil, bad
	}
	return &simulate.FloodEvent{Start: now.Add(in), Peak: rise, PeakLevel: peak}, nil
}
