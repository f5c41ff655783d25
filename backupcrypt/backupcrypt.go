// Package backupcrypt encrypts backup streams with a key of the data
// keyring, so that a backup copied off the machine gives away nothing
// without the keyring, and any change to it is detected on restore.
//
// A backup is a header, then the data in chunks of ChunkSize bytes:
//
//	"CITYOPS-BACKUP"   magic, 14 bytes
//	version            1 byte, 1
//	key id length      1 byte, then the key id (letters, digits, '-')
//	salt               32 random bytes
//	header MAC         32 bytes, HMAC-SHA256 of all the above
//	chunk 0 … chunk n  each AES-256-GCM ciphertext and tag (16 bytes)
//
// The keys are derived with HKDF from the keyring's key and the salt, so
// every backup has keys of its own: the chunks' key ("cityops backup v1")
// and the header MAC's key ("cityops backup v1 header"). A chunk's nonce is
// its number, and its associated data is the header and a flag that is 1
// for the last chunk only (the STREAM construction): chunks that were
// altered, swapped, removed, or cut off at the end, and a header that was
// edited, all fail to open. Every chunk but the last holds exactly
// ChunkSize bytes of data; the last holds 0 to ChunkSize, and is empty
// only when the whole backup is.
//
// Both directions stream in constant memory. A Reader returns a chunk's
// data only once its tag verified, but it cannot know the backup is whole
// before its end: whoever restores must discard what was read when Read
// fails.
package backupcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cityops/cityops/keyring"
)

// Magic starts every encrypted backup.
const Magic = "CITYOPS-BACKUP"

// ChunkSize is the amount of data sealed in one chunk.
const ChunkSize = 64 << 10

const (
	version   = 1
	saltSize  = 32
	macSize   = sha256.Size
	tagSize   = 16
	nonceSize = 12
	maxIDLen  = 40

	chunkInfo  = "cityops backup v1"
	headerInfo = "cityops backup v1 header"
)

// ErrFormat is returned for a stream that is not an encrypted backup this
// version can read.
var ErrFormat = errors.New("not an encrypted cityops backup")

// ErrAuth is returned, wrapped with the details, for a backup that does not
// verify: a wrong key, or a backup that was altered or cut short.
var ErrAuth = errors.New("backup does not verify")

// A KeyError reports that a backup was encrypted with a key the keyring
// does not hold (or that no keyring was given). ID is the key's id.
type KeyError struct {
	ID string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("the backup was encrypted with data key %q, which is not in the keyring", e.ID)
}

// IsEncrypted reports whether b, the start of a file, is the start of an
// encrypted backup. It needs len(Magic) bytes.
func IsEncrypted(b []byte) bool { return bytes.HasPrefix(b, []byte(Magic)) }

// keys derives the chunk AEAD and the header MAC key for a key id and salt.
func keys(k *keyring.Keyring, id string, salt []byte) (cipher.AEAD, []byte, error) {
	ck, err := k.Derive(id, salt, chunkInfo)
	if err != nil {
		return nil, nil, &KeyError{ID: id}
	}
	mk, err := k.Derive(id, salt, headerInfo)
	if err != nil {
		return nil, nil, &KeyError{ID: id}
	}
	block, err := aes.NewCipher(ck)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, mk, nil
}

func validID(id []byte) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// nonce returns chunk n's nonce.
func nonce(n uint64) []byte {
	var b [nonceSize]byte
	binary.BigEndian.PutUint64(b[nonceSize-8:], n)
	return b[:]
}

// A Writer encrypts what is written to it into an underlying writer. Close
// writes the last chunk; without it the backup does not open.
type Writer struct {
	dst   io.Writer
	aead  cipher.AEAD
	ad    []byte // the header, then the last-chunk flag
	buf   []byte // data of the chunk being filled; cap chunk+tagSize
	chunk int
	n     uint64
	err   error
}

// NewWriter writes the header of a backup encrypted with the keyring's
// current key to dst, and returns a Writer for its data.
func NewWriter(dst io.Writer, k *keyring.Keyring) (*Writer, error) {
	return newWriter(dst, k, ChunkSize)
}

func newWriter(dst io.Writer, k *keyring.Keyring, chunk int) (*Writer, error) {
	if k == nil {
		return nil, errors.New("backupcrypt: no keyring")
	}
	id := k.Current()
	salt := make([]byte, saltSize)
	rand.Read(salt)
	aead, mk, err := keys(k, id, salt)
	if err != nil {
		return nil, err
	}
	hdr := make([]byte, 0, len(Magic)+2+len(id)+saltSize+macSize)
	hdr = append(hdr, Magic...)
	hdr = append(hdr, version, byte(len(id)))
	hdr = append(hdr, id...)
	hdr = append(hdr, salt...)
	ad := append(bytes.Clone(hdr), 0)
	mac := hmac.New(sha256.New, mk)
	mac.Write(hdr)
	if _, err := dst.Write(mac.Sum(hdr)); err != nil {
		return nil, err
	}
	return &Writer{dst: dst, aead: aead, ad: ad, buf: make([]byte, 0, chunk+tagSize), chunk: chunk}, nil
}

// Write encrypts p. Data is written out a chunk at a time.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunk { // more data follows: not the last chunk
			if err := w.seal(false); err != nil {
				return total, err
			}
		}
		k := min(w.chunk-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		total += k
	}
	return total, nil
}

// Close seals and writes the last chunk. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.seal(true); err != nil {
		return err
	}
	w.err = errors.New("backupcrypt: write after close")
	return nil
}

func (w *Writer) seal(last bool) error {
	w.ad[len(w.ad)-1] = 0
	if last {
		w.ad[len(w.ad)-1] = 1
	}
	out := w.aead.Seal(w.buf[:0], nonce(w.n), w.buf, w.ad)
	w.n++
	w.buf = w.buf[:0]
	if _, err := w.dst.Write(out); err != nil {
		w.err = err
		return err
	}
	return nil
}

// A Reader decrypts a backup. Read returns data only from chunks that
// verified, and an error wrapping ErrAuth as soon as one does not,
// including when the backup ends before its last chunk.
type Reader struct {
	src      io.Reader
	aead     cipher.AEAD
	ad       []byte
	sealed   []byte // a chunk as read: chunk+tagSize bytes at most
	buf      []byte // a chunk's data: chunk bytes
	plain    []byte // verified data not yet returned, in buf
	carry    byte   // a byte read ahead of the next chunk
	hasCarry bool
	n        uint64
	id       string
	err      error // sticky; io.EOF after the last chunk
}

// NewReader reads and checks the header of an encrypted backup. It returns
// an error wrapping ErrFormat for something else, a *KeyError when the
// keyring (which may be nil) lacks the backup's key, and an error wrapping
// ErrAuth when the keyring's key of that id is not the one that encrypted
// the backup, or the header was altered.
func NewReader(src io.Reader, k *keyring.Keyring) (*Reader, error) {
	return newReader(src, k, ChunkSize)
}

func newReader(src io.Reader, k *keyring.Keyring, chunk int) (*Reader, error) {
	fixed := make([]byte, len(Magic)+2, len(Magic)+2+maxIDLen+saltSize+macSize)
	if _, err := io.ReadFull(src, fixed); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: too short", ErrFormat)
		}
		return nil, err
	}
	if !IsEncrypted(fixed) {
		return nil, ErrFormat
	}
	if v := fixed[len(Magic)]; v != version {
		return nil, fmt.Errorf("%w: format version %d (this cityops reads version %d)", ErrFormat, v, version)
	}
	idLen := int(fixed[len(Magic)+1])
	if idLen == 0 || idLen > maxIDLen {
		return nil, fmt.Errorf("%w: bad header", ErrFormat)
	}
	hdr := fixed[:len(fixed)+idLen+saltSize+macSize]
	if _, err := io.ReadFull(src, hdr[len(fixed):]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: header cut short", ErrFormat)
		}
		return nil, err
	}
	idb := hdr[len(fixed) : len(fixed)+idLen]
	if !validID(idb) {
		return nil, fmt.Errorf("%w: bad key id in header", ErrFormat)
	}
	id := string(idb)
	if k == nil {
		return nil, &KeyError{ID: id}
	}
	body, sum := hdr[:len(hdr)-macSize], hdr[len(hdr)-macSize:]
	aead, mk, err := keys(k, id, body[len(body)-saltSize:])
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, mk)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, fmt.Errorf("%w: the keyring's key %q is not the one that encrypted this backup, or its header was altered", ErrAuth, id)
	}
	return &Reader{src: src, aead: aead, ad: append(body[:len(body):len(body)], 0),
		sealed: make([]byte, chunk+tagSize), buf: make([]byte, chunk), id: id}, nil
}

// KeyID returns the id of the key that encrypted the backup.
func (r *Reader) KeyID() string { return r.id }

// Read returns verified data.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo writes the verified data to w, a chunk at a time.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err == io.EOF {
			return total, nil
		}
		if r.err != nil {
			return total, r.err
		}
		r.err = r.next()
	}
}

// next reads, opens and keeps the next chunk. It returns io.EOF after the
// last one.
func (r *Reader) next() error {
	n := 0
	if r.hasCarry {
		r.sealed[0], r.hasCarry, n = r.carry, false, 1
	}
	m, err := io.ReadFull(r.src, r.sealed[n:])
	n += m
	last := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		return err
	default: // a whole chunk: it is the last one if nothing follows
		var one [1]byte
		k, err := io.ReadFull(r.src, one[:])
		switch {
		case k == 1:
			r.carry, r.hasCarry = one[0], true
		case err == io.EOF:
			last = true
		default:
			return err
		}
	}
	// Chunks are counted from 1 in messages.
	if n == 0 { // only the header: a chunk that is not the last has a carry
		return fmt.Errorf("%w: nothing follows the header: it was cut short", ErrAuth)
	}
	plain, ok := r.open(r.sealed[:n], last)
	if !ok {
		if last && n == len(r.sealed) {
			if _, ok := r.open(r.sealed[:n], false); ok {
				return fmt.Errorf("%w: it ends after chunk %d, which is not its last: it was cut short", ErrAuth, r.n+1)
			}
		}
		return fmt.Errorf("%w: chunk %d was altered, or the backup was cut short", ErrAuth, r.n+1)
	}
	if last && len(plain) == 0 && r.n > 0 {
		return fmt.Errorf("%w: empty last chunk", ErrAuth)
	}
	if r.n == ^uint64(0) {
		return fmt.Errorf("%w: too many chunks", ErrAuth)
	}
	r.n++
	r.plain = plain
	if last {
		return io.EOF
	}
	return nil
}

// open decrypts a chunk into r.buf. On failure r.buf holds garbage but
// sealed is intact, so it may be tried again.
func (r *Reader) open(sealed []byte, last bool) ([]byte, bool) {
	r.ad[len(r.ad)-1] = 0
	if last {
		r.ad[len(r.ad)-1] = 1
	}
	if len(sealed) < tagSize || len(sealed)-tagSize > len(r.buf) {
		return nil, false
	}
	plain, err := r.aead.Open(r.buf[:0], nonce(r.n), sealed, r.ad)
	return plain, err == nil
}
