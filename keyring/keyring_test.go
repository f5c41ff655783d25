package keyring

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSealOpenAndRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("# test\n"+NewLine(time.Now())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k1, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("reports.reporter_phone:42")
	sealed := k1.Seal("0905 123 456", aad)
	if !IsSealed(sealed) || strings.Contains(sealed, "0905") || SealedWith(sealed) != k1.Current() {
		t.Fatalf("sealed = %q", sealed)
	}
	if got, err := k1.Open(sealed, aad); err != nil || got != "0905 123 456" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k1.Open(sealed, []byte("reports.reporter_phone:43")); !errors.Is(err, ErrOpen) {
		t.Fatalf("a value moved to another row opened: %v", err)
	}
	if k1.Seal("x", nil) == k1.Seal("x", nil) {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if got, err := k1.Open("plain before encryption", aad); err != nil || got != "plain before encryption" {
		t.Fatalf("plain value: %q, %v", got, err)
	}
	if k1.Seal("", aad) != "" {
		t.Fatal("the empty string was sealed")
	}

	k2, err := Rotate(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.IDs()) != 2 || k2.Current() == k1.Current() {
		t.Fatalf("after rotation: %v", k2.IDs())
	}
	if got, err := k2.Open(sealed, aad); err != nil || got != "0905 123 456" {
		t.Fatalf("the old key's value does not open after rotation: %q, %v", got, err)
	}
	if SealedWith(k2.Seal("a", nil)) != k2.Current() {
		t.Fatal("rotation did not change the sealing key")
	}
	// A keyring without the old key cannot open its values, and says so.
	only, err := Parse([]byte(NewLine(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := only.Open(sealed, aad); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), k1.Current()) {
		t.Fatalf("missing key: %v", err)
	}
	// Tampering is detected.
	b := []byte(sealed)
	b[len(b)-3] ^= 1
	if b[len(b)-3] == sealed[len(sealed)-3] {
		t.Fatal("test did not change the value")
	}
	if _, err := k1.Open(string(b), aad); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered value: %v", err)
	}

	d1, err := k2.Derive("", []byte("salt"), "test")
	if err != nil {
		t.Fatal(err)
	}
	d2, err := k2.Derive(k2.Current(), []byte("salt"), "test")
	if err != nil || string(d1) != string(d2) || len(d1) != KeySize {
		t.Fatalf("Derive: %v", err)
	}
	if d3, _ := k2.Derive(k1.Current(), []byte("salt"), "test"); string(d3) == string(d1) {
		t.Fatal("two keys derive the same key")
	}
}

func TestParseRefusals(t *testing.T) {
	good := NewLine(time.Now())
	for name, text := range map[string]string{
		"empty":     "# nothing\n",
		"short key": "k1 AAAA",
		"bad id":    "k/1 " + strings.Fields(good)[1],
		"no key":    "k1",
		"duplicate": good + "\n" + good,
	} {
		_, err := Parse([]byte(text))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), strings.Fields(good)[1]) {
			t.Errorf("%s: the error shows the key: %v", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "keys")
	os.WriteFile(path, []byte(good), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable keyring was loaded: %v", err)
	}
}

func TestFromConfig(t *testing.T) {
	line := NewLine(time.Now())
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if k, err := FromConfig("", getenv); k != nil || err != nil {
		t.Fatalf("nothing given: %v, %v", k, err)
	}
	env["CITYOPS_DATA_KEY"] = line
	k, err := FromConfig("", getenv)
	if err != nil || k.Current() != strings.Fields(line)[0] {
		t.Fatalf("from the environment: %v", err)
	}
	path := filepath.Join(t.TempDir(), "keys")
	other := NewLine(time.Now())
	os.WriteFile(path, []byte(other), 0o600)
	env["CITYOPS_DATA_KEY_FILE"] = path
	if k, err = FromConfig("", getenv); err != nil || k.Current() != strings.Fields(other)[0] {
		t.Fatalf("the file named in the environment comes before the text: %v", err)
	}
	env["CITYOPS_DATA_KEY"] = "garbage"
	delete(env, "CITYOPS_DATA_KEY_FILE")
	if _, err := FromConfig("", getenv); err == nil || !strings.Contains(err.Error(), "CITYOPS_DATA_KEY") {
		t.Fatalf("bad text: %v", err)
	}
}
