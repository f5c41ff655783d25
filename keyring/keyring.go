// Package keyring holds the data keys that encrypt personal data at rest
// and backups. A keyring is a short text file, one key a line:
//
//	# cityops data keys: the last key encrypts, every key decrypts
//	k20261128a 0h4Jm0bB0m6v0vY9mE7eS8aT0mB0x3U0m1u0P3hG0Uw=
//
// Each key is 32 random bytes (AES-256), in standard base64, after an id
// of letters, digits and '-'. Rotation appends a key; what the older keys
// sealed still opens until it is sealed again with the new one, and only
// then may the old line be removed.
//
// Sealed values are text, so they fit the databases' text columns:
// "enc1:<key id>:<base64 of nonce and AES-GCM ciphertext>". The caller's
// associated data binds a value to its place (a column and a row), so a
// value copied to another row does not open.
package keyring

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// KeySize is the length of a data key in bytes.
const KeySize = 32

// prefix starts every sealed value.
const prefix = "enc1:"

var idRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,40}$`)

type key struct {
	id   string
	aead cipher.AEAD
	raw  []byte
}

// Keyring is a set of data keys, the last of which is current.
type Keyring struct {
	keys []key
	byID map[string]int
}

// Parse reads a keyring file's text. Blank lines and lines starting with
// '#' are skipped. It never echoes key material in its errors.
func Parse(text []byte) (*Keyring, error) {
	k := &Keyring{byID: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, " ")
		b64 = strings.TrimSpace(b64)
		if !ok || !idRE.MatchString(id) {
			return nil, fmt.Errorf("line %d: want \"ID KEY\" with an ID of letters, digits and '-'", n)
		}
		if _, dup := k.byID[id]; dup {
			return nil, fmt.Errorf("line %d: key id %q is used twice", n, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("line %d: key %q is not %d bytes in base64", n, id, KeySize)
		}
		if err := k.add(id, raw); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		return nil, errors.New("no key in the keyring")
	}
	return k, nil
}

func (k *Keyring) add(id string, raw []byte) error {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return err
	}
	k.byID[id] = len(k.keys)
	k.keys = append(k.keys, key{id: id, aead: aead, raw: raw})
	return nil
}

// Load reads a keyring file. It refuses a file that others may read.
func Load(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: others may read it (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// NewLine returns a keyring line with a fresh random key, its id made from
// the date and a random suffix.
func NewLine(now time.Time) string {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	suffix := make([]byte, 3)
	rand.Read(suffix)
	id := fmt.Sprintf("k%s-%x", now.UTC().Format("20060102"), suffix)
	return id + " " + base64.StdEncoding.EncodeToString(raw)
}

// Rotate appends a fresh key to the keyring file at path, which becomes
// the current key, and returns the new keyring. The file is rewritten
// through a temporary file so that a crash leaves the old one whole.
func Rotate(path string, now time.Time) (*Keyring, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if _, err := Parse(old); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	text := append(bytes.TrimRight(old, "\n"), '\n')
	text = append(text, NewLine(now)+"\n"...)
	k, err := Parse(text)
	if err != nil {
		return nil, err
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, text, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return k, nil
}

// Current returns the id of the key that encrypts.
func (k *Keyring) Current() string { return k.keys[len(k.keys)-1].id }

// IDs returns the key ids, oldest first.
func (k *Keyring) IDs() []string {
	out := make([]string, len(k.keys))
	for i, c := range k.keys {
		out[i] = c.id
	}
	return out
}

// Seal encrypts s with the current key. The empty string stays empty: it
// holds nothing to protect.
func (k *Keyring) Seal(s string, aad []byte) string {
	if s == "" {
		return ""
	}
	c := k.keys[len(k.keys)-1]
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(s)+c.aead.Overhead())
	rand.Read(nonce)
	out := c.aead.Seal(nonce, nonce, []byte(s), aad)
	return prefix + c.id + ":" + base64.RawStdEncoding.EncodeToString(out)
}

// ErrOpen is returned for a sealed value that does not open: a wrong or
// missing key, or a value that was changed or moved.
var ErrOpen = errors.New("sealed value does not open")

// Open decrypts a value Seal made. A value that is not sealed (plain text
// stored before encryption was turned on) is returned as it is.
func (k *Keyring) Open(s string, aad []byte) (string, error) {
	if !IsSealed(s) {
		return s, nil
	}
	id, b64, ok := strings.Cut(s[len(prefix):], ":")
	if !ok {
		return "", ErrOpen
	}
	i, ok := k.byID[id]
	if !ok {
		return "", fmt.Errorf("%w: key %q is not in the keyring", ErrOpen, id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	c := k.keys[i]
	if err != nil || len(raw) < c.aead.NonceSize()+c.aead.Overhead() {
		return "", ErrOpen
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// IsSealed reports whether s is a value Seal made.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// SealedWith returns the id of the key that sealed s, or "" when s is not
// sealed.
func SealedWith(s string) string {
	if !IsSealed(s) {
		return ""
	}
	id, _, _ := strings.Cut(s[len(prefix):], ":")
	return id
}

// Derive returns a key for another purpose (info names it, such as
// "cityops backup v1"), derived with HKDF-SHA256 from the key with the
// given id ("" for the current one) and salt.
func (k *Keyring) Derive(id string, salt []byte, info string) ([]byte, error) {
	i := len(k.keys) - 1
	if id != "" {
		var ok bool
		if i, ok = k.byID[id]; !ok {
			return nil, fmt.Errorf("key %q is not in the keyring", id)
		}
	}
	return hkdf.Key(sha256.New, k.keys[i].raw, salt, info, KeySize)
}

// FromConfig loads the keyring named by a command-line flag's value (a
// file), else by the environment: CITYOPS_DATA_KEY_FILE (a file) or
// CITYOPS_DATA_KEY (the keyring's text itself). It returns nil and no
// error when none is given.
func FromConfig(path string, getenv func(string) string) (*Keyring, error) {
	if path == "" {
		path = getenv("CITYOPS_DATA_KEY_FILE")
	}
	if path != "" {
		return Load(path)
	}
	if text := getenv("CITYOPS_DATA_KEY"); text != "" {
		k, err := Parse([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("CITYOPS_DATA_KEY: %w", err)
		}
		return k, nil
	}
	return nil, nil
}
