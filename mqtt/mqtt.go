// Package mqtt takes sensor measurements from an MQTT broker in the manner
// of FIWARE's IoT Agent JSON: a device publishes a JSON object of
// measurements on /{key}/{deviceId}/attrs, and cityops writes them into the
// entity the device is registered to feed.
package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops"
)

// Topic is the subscription for every device's measurements.
const Topic = "/+/+/attrs"

// maxPayload bounds one message; larger ones are counted and dropped.
const maxPayload = 64 << 10

// Ingest subscribes to a broker and stores measurements.
type Ingest struct {
	Broker   string // tcp://127.0.0.1:1883
	ClientID string
	Devices  cityops.DeviceService
	Log      *slog.Logger

	// Counters, for metrics and tests.
	Accepted, Rejected atomic.Int64

	client paho.Client
}

// Start connects and subscribes; it reconnects by itself until Stop.
func (in *Ingest) Start(ctx context.Context) error {
	opts := paho.NewClientOptions().AddBroker(in.Broker).SetClientID(in.ClientID).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
		SetOrderMatters(false).SetCleanSession(true).
		SetOnConnectHandler(func(c paho.Client) {
			if t := c.Subscribe(Topic, 1, in.handle); t.Wait() && t.Error() != nil {
				in.Log.Error("mqtt subscribe", "topic", Topic, "err", t.Error())
				return
			}
			in.Log.Info("mqtt subscribed", "broker", in.Broker, "topic", Topic)
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) { in.Log.Warn("mqtt connection lost", "err", err) })
	in.client = paho.NewClient(opts)
	t := in.client.Connect()
	select {
	case <-t.Done():
		if t.Error() != nil {
			return fmt.Errorf("mqtt %s: %w", in.Broker, t.Error())
		}
	case <-time.After(10 * time.Second):
		// Retries go on in the background.
		in.Log.Warn("mqtt broker not reachable yet; retrying", "broker", in.Broker)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Stop disconnects, letting handlers in progress finish.
func (in *Ingest) Stop() {
	if in.client != nil {
		in.client.Disconnect(1000)
	}
}

// handle stores one message; anything wrong with it is counted, logged
// and dropped: a bad message never stops the others.
func (in *Ingest) handle(_ paho.Client, m paho.Message) {
	if err := in.store(m.Topic(), m.Payload()); err != nil {
		in.Rejected.Add(1)
		in.Log.Warn("mqtt message rejected", "topic", m.Topic(), "err", err)
		return
	}
	in.Accepted.Add(1)
}

func (in *Ingest) store(topic string, payload []byte) error {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "" || parts[3] != "attrs" {
		return fmt.Errorf("topic %q is not /{key}/{deviceId}/attrs", topic)
	}
	if len(payload) > maxPayload {
		return fmt.Errorf("payload of %d bytes is over %d", len(payload), maxPayload)
	}
	var measures map[string]any
	if err := json.Unmarshal(payload, &measures); err != nil {
		return fmt.Errorf("payload is not a JSON object: %w", err)
	}
	at := time.Now()
	// IoT Agent JSON sends the observation time as TimeInstant.
	if s, ok := measures["TimeInstant"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("TimeInstant %q is not a date-time", s)
		}
		at = t
		delete(measures, "TimeInstant")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return in.Devices.Measure(ctx, parts[1], parts[2], measures, at)
}
