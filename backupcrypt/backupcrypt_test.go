package backupcrypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cityops/cityops/keyring"
)

// keys returns a keyring of the given ids, each with a fresh random key.
func testKeyring(t testing.TB, ids ...string) (*keyring.Keyring, string) {
	t.Helper()
	var text strings.Builder
	for _, id := range ids {
		raw := make([]byte, keyring.KeySize)
		rand.Read(raw)
		text.WriteString(id + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
	}
	k, err := keyring.Parse([]byte(text.String()))
	if err != nil {
		t.Fatal(err)
	}
	return k, text.String()
}

func mustParse(t testing.TB, text string) *keyring.Keyring {
	t.Helper()
	k, err := keyring.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pattern returns n bytes of recognisable, non-repeating-per-chunk data.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/ChunkSize*13 + i/251)
	}
	return b
}

func encrypt(t testing.TB, k *keyring.Keyring, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, k)
	if err != nil {
		t.Fatal(err)
	}
	// Irregular writes, to cross chunk boundaries every way.
	for p := plain; len(p) > 0; {
		n := min(len(p), 1000+len(p)%777)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decrypt returns what a Reader gave before its error.
func decrypt(k *keyring.Keyring, file []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(file), k)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, r)
	return out.Bytes(), err
}

func headerLen(id string) int { return len(Magic) + 2 + len(id) + saltSize + macSize }

func TestRoundTrip(t *testing.T) {
	k, _ := testKeyring(t, "k1")
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 5} {
		plain := pattern(n)
		file := encrypt(t, k, plain)
		chunks := max(1, (n+ChunkSize-1)/ChunkSize)
		if got, want := len(file), headerLen("k1")+chunks*tagSize+n; got != want {
			t.Errorf("%d bytes: encrypted size %d, want %d", n, got, want)
		}
		if n >= 64 && bytes.Contains(file, plain[:64]) {
			t.Errorf("%d bytes: the encrypted backup holds the plain data", n)
		}
		got, err := decrypt(k, file)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
		// Small reads go through Read rather than WriteTo.
		r, err := NewReader(bytes.NewReader(file), k)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(iotest.HalfReader(r))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%d bytes, small reads: got %d bytes, %v", n, len(got), err)
		}
		if r.KeyID() != "k1" {
			t.Errorf("KeyID = %q", r.KeyID())
		}
	}
	// Two backups of the same data differ: each has its own salt, so its
	// own keys.
	if a, b := encrypt(t, k, pattern(100)), encrypt(t, k, pattern(100)); bytes.Equal(a, b) {
		t.Error("two backups of the same data are equal")
	}
}

func TestWriterErrors(t *testing.T) {
	k, _ := testKeyring(t, "k1")
	if _, err := NewWriter(io.Discard, nil); err == nil {
		t.Error("NewWriter without a keyring")
	}
	w, _ := NewWriter(io.Discard, k)
	w.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close")
	}
	fail := errors.New("disk full")
	w, _ = NewWriter(&limitWriter{n: headerLen("k1") + 10, err: fail}, k)
	_, err := w.Write(pattern(3 * ChunkSize))
	if !errors.Is(err, fail) {
		t.Errorf("Write to a failing writer: %v", err)
	}
	if err := w.Close(); !errors.Is(err, fail) {
		t.Errorf("Close after a failed write: %v", err)
	}
}

type limitWriter struct {
	n   int
	err error
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		w.n = 0
		return 0, w.err
	}
	w.n -= len(p)
	return len(p), nil
}

func TestTampering(t *testing.T) {
	k, text := testKeyring(t, "k1")
	plain := pattern(3*ChunkSize + 100) // four chunks, the last short
	file := encrypt(t, k, plain)
	hl := headerLen("k1")
	sealed := ChunkSize + tagSize
	chunk := func(i int) []byte { // the i-th sealed chunk, from 0
		end := min(hl+(i+1)*sealed, len(file))
		return file[hl+i*sealed : end]
	}
	flip := func(at int) []byte {
		b := bytes.Clone(file)
		b[at] ^= 0x01
		return b
	}
	set := func(at int, v byte) []byte {
		b := bytes.Clone(file)
		b[at] = v
		return b
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := encrypt(t, k, plain) // same key, another salt
	sameID, _ := testKeyring(t, "k1")
	otherID, _ := testKeyring(t, "k2")

	for _, tt := range []struct {
		name string
		k    *keyring.Keyring
		file []byte
		want error  // errors.Is target; nil for a *KeyError
		text string // in the message
		id   string // a KeyError's key id
	}{
		{"magic", k, flip(2), ErrFormat, "", ""},
		{"version", k, flip(len(Magic)), ErrFormat, "version", ""},
		// Set, not flipped: a length one longer would read the salt's
		// first byte into the id, which is a valid id a quarter of the time.
		{"key id length zero", k, set(len(Magic)+1, 0), ErrFormat, "", ""},
		{"key id length too long", k, set(len(Magic)+1, 255), ErrFormat, "", ""},
		{"key id", k, flip(len(Magic) + 2), nil, `"j1"`, "j1"},
		{"salt", k, flip(len(Magic) + 5), ErrAuth, "header was altered", ""},
		{"header MAC", k, flip(hl - 1), ErrAuth, "header was altered", ""},
		{"header of another backup", k, join(other[:hl], file[hl:]), ErrAuth, "chunk 1", ""},
		{"first chunk", k, flip(hl + 10), ErrAuth, "chunk 1 was altered", ""},
		{"middle chunk", k, flip(hl + sealed + 5), ErrAuth, "chunk 2 was altered", ""},
		{"tag of a chunk", k, flip(hl + 2*sealed - 1), ErrAuth, "chunk 2", ""},
		{"last chunk", k, flip(len(file) - 30), ErrAuth, "chunk 4", ""},
		{"cut at a chunk boundary", k, file[:hl+3*sealed], ErrAuth, "ends after chunk 3, which is not its last", ""},
		{"cut after the first chunk", k, file[:hl+sealed], ErrAuth, "ends after chunk 1", ""},
		{"cut mid-chunk", k, file[:hl+sealed+100], ErrAuth, "chunk 2", ""},
		{"cut in the last chunk", k, file[:len(file)-1], ErrAuth, "chunk 4", ""},
		{"only the header", k, file[:hl], ErrAuth, "nothing follows the header", ""},
		{"header cut short", k, file[:hl-1], ErrFormat, "", ""},
		{"chunks swapped", k, join(file[:hl], chunk(1), chunk(0), chunk(2), chunk(3)), ErrAuth, "chunk 1", ""},
		{"chunk removed", k, join(file[:hl], chunk(0), chunk(2), chunk(3)), ErrAuth, "chunk 2", ""},
		{"chunk repeated", k, join(file[:hl], chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)), ErrAuth, "chunk 2", ""},
		{"data appended", k, join(file, []byte("x")), ErrAuth, "chunk 4", ""},
		{"chunk of another backup", k, join(file[:hl], chunk(0), other[hl+sealed:hl+2*sealed], chunk(2), chunk(3)), ErrAuth, "chunk 2", ""},
		{"wrong key of the same id", sameID, file, ErrAuth, `key "k1" is not the one`, ""},
		{"keyring without the key", otherID, file, nil, `"k1"`, "k1"},
		{"no keyring", nil, file, nil, `"k1"`, "k1"},
		{"empty file", k, nil, ErrFormat, "", ""},
		{"plain SQLite file", k, []byte("SQLite format 3\x00and more"), ErrFormat, "", ""},
		{"the keyring file itself", k, []byte(text), ErrFormat, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decrypt(tt.k, tt.file)
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.want == nil:
				var ke *KeyError
				if !errors.As(err, &ke) || ke.ID != tt.id {
					t.Errorf("err = %v; want a KeyError for %s", err, tt.id)
				}
			case !errors.Is(err, tt.want):
				t.Errorf("err = %v; want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v; want it to say %q", err, tt.text)
			}
			// What was returned is whole verified chunks from the start.
			if len(got)%ChunkSize != 0 || !bytes.Equal(got, plain[:len(got)]) {
				t.Errorf("returned %d bytes that are not whole verified chunks", len(got))
			}
		})
	}
}

func TestRotation(t *testing.T) {
	k1, text1 := testKeyring(t, "k1")
	old := encrypt(t, k1, pattern(ChunkSize+1))
	_, line2 := testKeyring(t, "k2")
	rotated := mustParse(t, text1+line2)
	if got, err := decrypt(rotated, old); err != nil || !bytes.Equal(got, pattern(ChunkSize+1)) {
		t.Fatalf("the rotated keyring does not open an old backup: %v", err)
	}
	fresh := encrypt(t, rotated, pattern(10))
	r, err := NewReader(bytes.NewReader(fresh), rotated)
	if err != nil || r.KeyID() != "k2" {
		t.Fatalf("a new backup is not encrypted with the new key: %v", err)
	}
	// After the old key's line is removed, old backups no longer open, and
	// the error names the key they need.
	only2 := mustParse(t, line2)
	_, err = decrypt(only2, old)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.ID != "k1" || !strings.Contains(err.Error(), `"k1"`) {
		t.Fatalf("old backup without its key: %v", err)
	}
	if got, err := decrypt(only2, fresh); err != nil || !bytes.Equal(got, pattern(10)) {
		t.Fatalf("new backup: %v", err)
	}
}

// FuzzReader feeds the reader changed backups (the fuzzer starts from valid
// ones): it must not panic, and whatever it returns must be the encrypted
// data's whole chunks from the start, all of it when it reports no error.
func FuzzReader(f *testing.F) {
	const chunk = 32 // small chunks, so that small inputs have several
	k := mustParse(f, "k1 "+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, keyring.KeySize)))
	plain := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuv"), 3)[:90]
	var files [][]byte
	for _, n := range []int{0, 1, chunk, 90} {
		var b bytes.Buffer
		w, err := newWriter(&b, k, chunk)
		if err != nil {
			f.Fatal(err)
		}
		w.Write(plain[:n])
		w.Close()
		files = append(files, b.Bytes())
		f.Add(b.Bytes())
	}
	full := files[len(files)-1]
	f.Add(full[:len(full)-1])
	f.Add(append(bytes.Clone(full), 0))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := newReader(bytes.NewReader(file), k, chunk)
		if err != nil {
			return
		}
		got, err := io.ReadAll(iotest.HalfReader(r))
		if len(got)%chunk != 0 && err != nil {
			t.Fatalf("returned %d bytes, not whole chunks, then %v", len(got), err)
		}
		// A file that opens whole is one the writer made: with one of the
		// seeds' plain texts, which all start plain.
		if !bytes.Equal(got, plain[:min(len(got), len(plain))]) || len(got) > len(plain) {
			t.Fatalf("returned data that was never encrypted: %q (err %v)", got, err)
		}
		if err == nil {
			ok := false
			for _, n := range []int{0, 1, chunk, 90} {
				ok = ok || len(got) == n
			}
			if !ok {
				t.Fatalf("a backup of %d bytes opened whole; none was written", len(got))
			}
		}
	})
}
