// Package mqtt takes sensor measurements over MQTT in the manner of
// FIWARE's IoT Agent JSON: a device publishes a JSON object of
// measurements on /{key}/{deviceId}/attrs, and cityops writes them into the
// entity the device is registered to feed.
//
// Messages come from an external broker (Ingest subscribes to it) or from
// devices connected to cityops's own Broker, or both. Either way they are
// checked and parsed where they arrive, queued, and written in batches of
// up to BatchSize messages, one transaction each: one transaction per
// message would cap ingestion at the database's commit rate.
package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/cityops/cityops"
)

// Topic is the subscription for every device's measurements.
const Topic = "/+/+/attrs"

// maxPayload bounds one message; larger ones are counted and dropped.
const maxPayload = 64 << 10

// Defaults of Ingest's tuning fields.
const (
	DefaultQueueSize = 20000
	// A batch is what queued while the previous one was written, up to
	// this many: under load batches grow, and with them what one commit
	// (one fsync on SQLite) carries.
	DefaultBatchSize = 5000
	DefaultBatchWait = 20 * time.Millisecond
	DefaultMaxWait   = 5 * time.Second
)

// shareGroup names cityops's shared subscription.
const shareGroup = "cityops"

// logEvery is the least time between two log lines about refused or
// dropped messages: a flood of bad messages must not become a flood of
// log lines. The counters keep the totals.
const logEvery = 10 * time.Second

// Ingest queues measurements and writes them in batches. Start it before
// anything feeds it; Stop writes what is queued and ends.
type Ingest struct {
	// Broker is an external broker to subscribe to, such as
	// tcp://127.0.0.1:1883 (tcp://user:password@host:port to sign in);
	// empty when only an embedded Broker feeds this Ingest.
	Broker   string
	ClientID string
	// Topic is the filter subscribed to on Broker; empty means Topic.
	Topic string
	// Connections is how many connections to Broker share the
	// subscription (default 1). More than one subscribe to
	// $share/cityops/Topic (MQTT 5; Mosquitto 2 and EMQX also for 3.1.1),
	// which spreads messages over them: each has its own in-flight window
	// at the broker, which then keeps up with more messages a second.
	Connections int
	Devices     cityops.DeviceService
	Log         *slog.Logger

	QueueSize int           // messages that may wait to be written (DefaultQueueSize)
	BatchSize int           // most messages in one transaction (DefaultBatchSize)
	BatchWait time.Duration // longest the first message of a batch waits for more (DefaultBatchWait)
	// Writers is how many batches are written at once (default 1). SQLite
	// has one writer, so more only queue for its lock; PostgreSQL commits
	// in parallel and is bound by round trips, so a few help. Each device
	// has one writer, so its messages are written in the order received.
	Writers int
	// MaxWait is how long a message may wait for room in a full queue
	// before it is dropped (DefaultMaxWait); see offer.
	MaxWait time.Duration
	// Preview, when set, is shown each well-formed message before it is
	// queued (serve: storage.DB.PreviewMeasurement, which hands it to the
	// alarm engine), so that an alarm need not wait for the message's
	// batch to be written.
	Preview func(*cityops.Measurement)

	// Counters, for metrics and tests. Accepted messages are stored;
	// rejected ones were wrong (topic, payload, unknown device, nothing
	// mapped, or refused by the embedded broker's rules); dropped ones
	// were fine but could not be stored (queue full past MaxWait, shutting
	// down, or a batch the database kept refusing).
	Accepted, Rejected, Dropped atomic.Int64

	clients []paho.Client
	queues  []chan cityops.Measurement // one per writer
	stop    chan struct{}              // closed when Stop begins: waiting deliveries give up
	closed  chan struct{}              // closed once nothing can be queued: the writers drain and end
	writers sync.WaitGroup
	mu      sync.RWMutex // held for reading while a message is queued
	ended   bool         // set under mu once nothing may be queued

	stopOnce           sync.Once
	rejectLog, dropLog limiter
}

// Start starts the writer and, when Broker is set, connects and
// subscribes; it reconnects by itself until Stop.
func (in *Ingest) Start(ctx context.Context) error {
	if in.Devices == nil {
		return errors.New("mqtt ingest: no device service")
	}
	if in.Log == nil {
		in.Log = slog.Default()
	}
	if in.QueueSize <= 0 {
		in.QueueSize = DefaultQueueSize
	}
	if in.BatchSize <= 0 {
		in.BatchSize = DefaultBatchSize
	}
	if in.BatchWait <= 0 {
		in.BatchWait = DefaultBatchWait
	}
	if in.MaxWait <= 0 {
		in.MaxWait = DefaultMaxWait
	}
	if in.Writers <= 0 {
		in.Writers = 1
	}
	if in.Topic == "" {
		in.Topic = Topic
	}
	if in.Connections <= 0 {
		in.Connections = 1
	}
	in.stop, in.closed = make(chan struct{}), make(chan struct{})
	for range in.Writers {
		q := make(chan cityops.Measurement, max(1, in.QueueSize/in.Writers))
		in.queues = append(in.queues, q)
		in.writers.Go(func() { in.write(q) })
	}
	if in.Broker == "" {
		return nil
	}
	// Back-pressure: paho calls the handler for one message after
	// another (OrderMatters) and sends each PUBACK when it returns. The
	// handler only parses and queues, so it is quick, until the queue is
	// full: then it waits (offer), paho stops reading the connection, and
	// the broker stops sending once its in-flight window for this client
	// is full (Mosquitto: 20 QoS 1 messages), queueing the rest on its
	// side up to its own limit (Mosquitto's max_queued_messages, 1000 by
	// default, beyond which it drops and counts them). A PUBACK thus
	// means the message is in our queue, and messages are queued in the
	// order received, so an entity's current value is its last message.
	// The wait is bounded by MaxWait, well under paho's ping timeout (10
	// s), so that a slow database does not also cost the connection.
	filter := in.Topic
	if in.Connections > 1 {
		filter = "$share/" + shareGroup + "/" + in.Topic
	}
	for i := range in.Connections {
		id := in.ClientID
		if in.Connections > 1 {
			id = fmt.Sprintf("%s-%d", in.ClientID, i)
		}
		opts := paho.NewClientOptions().AddBroker(in.Broker).SetClientID(id).
			SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(2 * time.Second).
			SetOrderMatters(true).SetCleanSession(true).
			SetOnConnectHandler(func(c paho.Client) {
				if t := c.Subscribe(filter, 1, in.handle); t.Wait() && t.Error() != nil {
					in.Log.Error("mqtt subscribe", "topic", filter, "err", t.Error())
					return
				}
				in.Log.Info("mqtt subscribed", "broker", redactURL(in.Broker), "topic", filter)
			}).
			SetConnectionLostHandler(func(_ paho.Client, err error) { in.Log.Warn("mqtt connection lost", "err", err) })
		c := paho.NewClient(opts)
		in.clients = append(in.clients, c)
		t := c.Connect()
		select {
		case <-t.Done():
			if t.Error() != nil {
				in.Stop()
				return fmt.Errorf("mqtt %s: %w", redactURL(in.Broker), t.Error())
			}
		case <-time.After(10 * time.Second):
			// Retries go on in the background.
			in.Log.Warn("mqtt broker not reachable yet; retrying", "broker", redactURL(in.Broker))
		case <-ctx.Done():
			in.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// Stop disconnects from the broker, writes what is queued and returns
// when the writers have ended. Messages offered after Stop began are
// dropped (and counted).
func (in *Ingest) Stop() {
	if in.queues == nil {
		return
	}
	in.stopOnce.Do(func() {
		for _, c := range in.clients {
			c.Disconnect(1000)
		}
		close(in.stop)
		in.mu.Lock()
		in.ended = true
		in.mu.Unlock()
		close(in.closed)
		in.writers.Wait()
	})
}

// QueueDepth returns how many messages wait to be written.
func (in *Ingest) QueueDepth() int {
	n := 0
	for _, q := range in.queues {
		n += len(q)
	}
	return n
}

// queueOf returns the queue of a device's writer.
func (in *Ingest) queueOf(m cityops.Measurement) chan cityops.Measurement {
	if len(in.queues) == 1 {
		return in.queues[0]
	}
	h := fnv.New32a()
	h.Write([]byte(m.Key))
	h.Write([]byte{'/'})
	h.Write([]byte(m.DeviceID))
	return in.queues[h.Sum32()%uint32(len(in.queues))]
}

// handle takes one message from the external broker.
func (in *Ingest) handle(_ paho.Client, m paho.Message) {
	in.receive(m.Topic(), m.Payload())
}

// receive checks and queues one message; a bad one is counted, logged (at
// most once per logEvery) and dropped, and never stops the others.
func (in *Ingest) receive(topic string, payload []byte) {
	m, err := parse(topic, payload, time.Now())
	if err != nil {
		in.reject(topic, err)
		return
	}
	if in.Preview != nil {
		in.Preview(&m)
	}
	in.offer(topic, m)
}

// offer queues a measurement. When the queue is full it waits up to
// MaxWait for room: that wait is the back-pressure (see Start for the
// external broker, Broker.deliver for the embedded one), and it is bounded
// so that a stalled database cannot hold a device's connection for ever.
// A message that still finds no room is dropped and counted.
func (in *Ingest) offer(topic string, m cityops.Measurement) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.ended {
		in.drop(topic, 1, errors.New("shutting down"))
		return
	}
	q := in.queueOf(m)
	select {
	case q <- m:
		return
	default:
	}
	t := time.NewTimer(in.MaxWait)
	defer t.Stop()
	select {
	case q <- m:
	case <-t.C:
		in.drop(topic, 1, fmt.Errorf("queue of %d full for %s", cap(q), in.MaxWait))
	case <-in.stop:
		in.drop(topic, 1, errors.New("shutting down"))
	}
}

func (in *Ingest) reject(topic string, err error) {
	in.Rejected.Add(1)
	if ok, held := in.rejectLog.allow(time.Now()); ok {
		in.Log.Warn("mqtt message rejected", "topic", topic, "err", err, "rejected_total", in.Rejected.Load(), "not_logged", held)
	}
}

func (in *Ingest) drop(topic string, n int, err error) {
	in.Dropped.Add(int64(n))
	if ok, held := in.dropLog.allow(time.Now()); ok {
		in.Log.Error("mqtt messages dropped", "topic", topic, "count", n, "err", err, "dropped_total", in.Dropped.Load(), "not_logged", held)
	}
}

// write takes batches off one queue until Stop: a batch closes at
// BatchSize messages or BatchWait after its first, whichever comes first.
// Messages that arrive while a batch is written wait in the queue and
// make the next batch, so batches grow with the load.
func (in *Ingest) write(queue chan cityops.Measurement) {
	batch := make([]cityops.Measurement, 0, in.BatchSize)
	timer := time.NewTimer(in.BatchWait)
	timer.Stop()
	for {
		select {
		case m := <-queue:
			batch = append(batch, m)
		case <-in.closed:
			// Nothing more can be queued: write what is left.
			for {
				select {
				case m := <-queue:
					batch = append(batch, m)
					if len(batch) == in.BatchSize {
						in.flush(batch)
						batch = batch[:0]
					}
				default:
					in.flush(batch)
					return
				}
			}
		}
		timer.Reset(in.BatchWait)
	fill:
		for len(batch) < in.BatchSize {
			select {
			case m := <-queue:
				batch = append(batch, m)
			case <-timer.C:
				break fill
			case <-in.closed:
				break fill
			}
		}
		timer.Stop()
		in.flush(batch)
		batch = batch[:0]
	}
}

// flush writes one batch and counts the outcome. A batch the database
// refuses as a whole (not one message's fault) is tried again twice
// unless cityops is stopping, then dropped.
func (in *Ingest) flush(batch []cityops.Measurement) {
	if len(batch) == 0 {
		return
	}
	var errs []error
	var err error
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		errs, err = in.Devices.MeasureBatch(ctx, batch)
		cancel()
		if err == nil || try == 2 {
			break
		}
		in.Log.Warn("mqtt batch not written; trying again", "messages", len(batch), "err", err)
		select {
		case <-in.stop:
		case <-time.After(time.Duration(200<<try) * time.Millisecond):
		}
	}
	if err != nil {
		in.drop(topicOf(batch[0]), len(batch), err)
		return
	}
	var ok int64
	for i, e := range errs {
		switch {
		case e == nil:
			ok++
		case cityops.ErrorCode(e) == cityops.EINTERNAL:
			in.drop(topicOf(batch[i]), 1, e) // not the message's fault
		default:
			in.reject(topicOf(batch[i]), e)
		}
	}
	in.Accepted.Add(ok)
}

func topicOf(m cityops.Measurement) string { return "/" + m.Key + "/" + m.DeviceID + "/attrs" }

// splitTopic returns the key and device id of /{key}/{deviceId}/attrs.
func splitTopic(topic string) (key, id string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] == "" || parts[2] == "" || parts[3] != "attrs" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// parse reads one message; now is the observation time unless the payload
// carries TimeInstant.
func parse(topic string, payload []byte, now time.Time) (cityops.Measurement, error) {
	key, id, ok := splitTopic(topic)
	if !ok {
		return cityops.Measurement{}, fmt.Errorf("topic %q is not /{key}/{deviceId}/attrs", topic)
	}
	if len(payload) > maxPayload {
		return cityops.Measurement{}, fmt.Errorf("payload of %d bytes is over %d", len(payload), maxPayload)
	}
	var measures map[string]any
	if err := json.Unmarshal(payload, &measures); err != nil || measures == nil {
		return cityops.Measurement{}, fmt.Errorf("payload is not a JSON object")
	}
	at := now
	// IoT Agent JSON sends the observation time as TimeInstant.
	if s, ok := measures["TimeInstant"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return cityops.Measurement{}, fmt.Errorf("TimeInstant %q is not a date-time", s)
		}
		at = t
		delete(measures, "TimeInstant")
	}
	return cityops.Measurement{Key: key, DeviceID: id, Payload: measures, At: at}, nil
}

// limiter lets one log line through per logEvery and counts the others.
type limiter struct {
	mu   sync.Mutex
	next time.Time
	held int
}

// allow reports whether to log now, and how many lines were held back
// since the last one.
func (l *limiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.held++
		return false, 0
	}
	held := l.held
	l.held, l.next = 0, now.Add(logEvery)
	return true, held
}

// redactURL hides a password in a broker URL, for logs and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
