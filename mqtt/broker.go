package mqtt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// DefaultListen is the embedded broker's usual address.
const DefaultListen = "127.0.0.1:1883"

// minPassword is the shortest password ReadUsers accepts: the broker is
// reachable from the network, and device credentials are machine-made.
const minPassword = 12

// Broker is cityops's own MQTT broker, for sites without one. Devices
// sign in with a username and password and may only publish measurements,
// on /{key}/{deviceId}/attrs; those go to an in-process subscription that
// feeds Ingest, and no client can subscribe to anything.
type Broker struct {
	Addr   string  // host:port to listen on; port 0 picks a free one
	Users  []User  // who may connect (see ReadUsers)
	Ingest *Ingest // started; receives every measurement
	Log    *slog.Logger

	srv *mochi.Server
	ln  *listeners.TCP
}

// User is one set of credentials of the embedded broker.
type User struct {
	Name, Password string
	// Keys are the service keys (the topic's first level) the user may
	// publish under; none means any key.
	Keys []string
}

// ReadUsers reads the embedded broker's users from a file of lines
//
//	USERNAME PASSWORD [KEY,KEY…]
//
// with blank lines and lines starting with # ignored. Passwords are at
// least 12 characters and contain no spaces. Keep the file readable by
// cityops alone: it holds the passwords as they are sent.
func ReadUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mqtt users: %w", err)
	}
	var users []User
	var problems []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) < 2 || len(f) > 3:
			problems = append(problems, fmt.Sprintf("line %d: want USERNAME PASSWORD [KEY,KEY…]", n))
			continue
		case seen[f[0]]:
			problems = append(problems, fmt.Sprintf("line %d: user %q again", n, f[0]))
			continue
		case len(f[1]) < minPassword:
			problems = append(problems, fmt.Sprintf("line %d: the password of %q is shorter than %d characters", n, f[0], minPassword))
			continue
		}
		u := User{Name: f[0], Password: f[1]}
		if len(f) == 3 {
			for _, k := range strings.Split(f[2], ",") {
				if k == "" || strings.ContainsAny(k, "/+#") {
					problems = append(problems, fmt.Sprintf("line %d: key %q is not a topic level", n, k))
				}
				u.Keys = append(u.Keys, k)
			}
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mqtt users %s: %w", path, err)
	}
	if len(problems) == 0 && len(users) == 0 {
		problems = append(problems, "no users")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("mqtt users %s: %s", path, strings.Join(problems, "; "))
	}
	return users, nil
}

// Open listens and starts serving.
func (b *Broker) Open() error {
	switch {
	case b.Ingest == nil || b.Ingest.queues == nil:
		return errors.New("mqtt broker: start its Ingest first")
	case len(b.Users) == 0:
		return errors.New("mqtt broker: no users; every client must sign in")
	}
	if b.Log == nil {
		b.Log = slog.Default()
	}
	if b.Addr == "" {
		b.Addr = DefaultListen
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = maxPayload + 1024 // the payload, its topic and headers
	caps.MaximumQos = 1                        // QoS 2 buys nothing here: a measurement written twice is one history instance more
	caps.RetainAvailable = 0                   // a retained measurement would be written again on every restart
	caps.MaximumSessionExpiryInterval = 3600   // devices only publish: an old session holds nothing of value
	b.srv = mochi.New(&mochi.Options{InlineClient: true, Capabilities: caps, Logger: b.Log.With("component", "mqtt-broker")})
	if err := b.srv.AddHook(newAuthHook(b.Users, b.Ingest), nil); err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}
	b.ln = listeners.NewTCP(listeners.Config{ID: "cityops", Address: b.Addr})
	if err := b.srv.AddListener(b.ln); err != nil {
		return fmt.Errorf("mqtt broker: listen on %s: %w", b.Addr, err)
	}
	if err := b.srv.Subscribe(Topic, 1, b.deliver); err != nil {
		b.srv.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	if err := b.srv.Serve(); err != nil {
		b.srv.Close()
		return fmt.Errorf("mqtt broker: %w", err)
	}
	return nil
}

// Address returns the address the broker listens on, with the port it
// picked when given port 0.
func (b *Broker) Address() string {
	if b.ln == nil {
		return b.Addr
	}
	return b.ln.Address()
}

// Close disconnects every client and stops listening. Stop the Ingest
// after it, so that what the broker delivered last is written.
func (b *Broker) Close() error {
	if b.srv == nil {
		return nil
	}
	return b.srv.Close()
}

// deliver is the in-process subscription. Mochi calls it in the
// publishing device's own connection goroutine, after it has acknowledged
// a QoS 1 message (QoS is hop by hop: the PUBACK tells the device the
// broker has the message). When the queue is full, offer waits here: the
// broker stops reading that device's connection, so TCP flow control
// slows the device down while other devices go on. The wait is bounded by
// Ingest.MaxWait; a message that still finds no room is dropped, counted
// and logged, since the device already holds its PUBACK. A device's
// messages are queued in the order it sent them.
func (b *Broker) deliver(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
	b.Ingest.receive(pk.TopicName, pk.Payload)
}

// authHook signs devices in and keeps them to publishing measurements.
type authHook struct {
	mochi.HookBase
	users  map[string]authUser
	ingest *Ingest
}

type authUser struct {
	hash [sha256.Size]byte // of the password, so comparisons take the same time whatever its length
	keys []string
}

func newAuthHook(users []User, in *Ingest) *authHook {
	h := &authHook{users: map[string]authUser{}, ingest: in}
	for _, u := range users {
		h.users[u.Name] = authUser{hash: sha256.Sum256([]byte(u.Password)), keys: u.Keys}
	}
	return h
}

// ID implements mochi.Hook.
func (h *authHook) ID() string { return "cityops-auth" }

// Provides implements mochi.Hook.
func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

// OnConnectAuthenticate lets in known users with their password. A will
// message must obey the publishing rules too, since the broker sends it
// without asking OnACLCheck.
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	u, known := h.users[string(pk.Connect.Username)]
	given := sha256.Sum256(pk.Connect.Password)
	if subtle.ConstantTimeCompare(given[:], u.hash[:]) != 1 || !known {
		return false
	}
	if pk.Connect.WillFlag && !u.mayPublish(pk.Connect.WillTopic) {
		return false
	}
	return true
}

// OnACLCheck allows publishing measurements under the user's keys and
// nothing else: no client reads, only the in-process subscription does.
// Refused publications count as rejected messages.
func (h *authHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if !write {
		return false
	}
	u, ok := h.users[string(cl.Properties.Username)]
	if ok && u.mayPublish(topic) {
		return true
	}
	h.ingest.reject(topic, fmt.Errorf("user %q may not publish here", cl.Properties.Username))
	return false
}

func (u authUser) mayPublish(topic string) bool {
	key, _, ok := splitTopic(topic)
	return ok && (len(u.keys) == 0 || slices.Contains(u.keys, key))
}
