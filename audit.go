package cityops

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one line of the tamper-evident audit trail: who did what to
// which object, from where, and how it ended. Entries form a hash chain:
// Hash covers PrevHash and every other field but ID, so that changing,
// removing or reordering an entry breaks the chain from there on.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the user's e-mail, "apikey:<prefix>", "system", "citizen"
	// (a reporter holding their report's token) or "anonymous".
	Actor string `json:"actor"`
	// Source is the client's IP address; empty for the command line.
	Source string `json:"source"`
	// Action names what was done: "auth.login", "report.assign", ….
	Action string `json:"action"`
	// Object names what it was done to: "user:lan@hue.gov.vn", "report:HUE-…".
	Object string `json:"object"`
	// Outcome is AuditOK, AuditDenied or AuditFailed.
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Audit outcomes.
const (
	AuditOK     = "ok"     // the action was done
	AuditDenied = "denied" // the actor may not do it
	AuditFailed = "failed" // the action failed (a wrong password)
)

// AuditFilter selects audit entries; nil fields do not filter. The
// command line's export, the HTTP export and the administrators' page
// share it, so that a selection seen on the page downloads as it is.
type AuditFilter struct {
	Actor *string
	// Action matches exactly, or every action under it when it ends in a
	// dot: "report." selects "report.assign", "report.close", ….
	Action  *string
	Object  *string
	Outcome *string
	// Text selects entries whose actor, object or detail contains it,
	// in any case.
	Text *string
	// Since and Until bound At: Since inclusive, Until exclusive.
	Since, Until *time.Time
	// NewestFirst orders by id descending (the page); otherwise oldest
	// first (exports, verification).
	NewestFirst bool
	Offset      int
	Limit       int
}

// String describes the selection, as the detail of the "audit.export"
// entry that every export leaves: `action="auth." since=2025-03-01T00:00:00Z`.
func (f AuditFilter) String() string {
	var parts []string
	for _, p := range []struct {
		name string
		v    *string
	}{{"actor", f.Actor}, {"action", f.Action}, {"object", f.Object}, {"outcome", f.Outcome}, {"q", f.Text}} {
		if p.v != nil {
			parts = append(parts, p.name+"="+strconv.Quote(*p.v))
		}
	}
	if f.Since != nil {
		parts = append(parts, "since="+f.Since.UTC().Format(time.RFC3339))
	}
	if f.Until != nil {
		parts = append(parts, "until="+f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// ValidOutcome reports whether s is an audit outcome.
func ValidOutcome(s string) bool { return s == AuditOK || s == AuditDenied || s == AuditFailed }

// AuditSeal is a checkpoint of the chain: an HMAC, under a key the database
// does not hold, of the hash of entry UptoID. Someone who can write to the
// database but lacks the key cannot rewrite the chain up to a seal.
type AuditSeal struct {
	ID     int64
	UptoID int64
	Hash   string
	HMAC   string
	At     time.Time
}

// AuditVerification is the result of walking the chain.
type AuditVerification struct {
	Entries int // entries checked
	Seals   int // seals checked
	// SealKey tells whether the seals' HMACs were checked (a key was
	// given) or only that they name an entry with the sealed hash.
	SealKey bool
	// FirstID is the oldest entry checked. When the retention purge has
	// removed older entries, PurgeID is the "audit.purge" entry that names
	// the last one removed, which FirstID must follow.
	FirstID, PurgeID int64
	// BrokenID is the first entry where the chain is broken, 0 when it is
	// intact; Reason says what is wrong there.
	BrokenID int64
	Reason   string
}

// AuditService keeps the audit trail. Services record their own actions in
// the transaction that makes the change; Record is for the others.
type AuditService interface {
	// Record appends e, taking Actor and Source from ctx when they are
	// empty and setting ID, At and the hashes.
	Record(ctx context.Context, e *AuditEntry) error
	// FindAudit returns entries in id order (newest first with
	// NewestFirst) and the count of all that match. EINVALID for an
	// unknown outcome, EUNAUTHORIZED, EFORBIDDEN.
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, int, error)
	// VerifyAudit walks the chain from the oldest entry kept (which must
	// start it, or follow the last entry the retention purge removed) and
	// checks every seal. EUNAUTHORIZED, EFORBIDDEN.
	VerifyAudit(ctx context.Context) (*AuditVerification, error)
	// Seal checkpoints the chain's last entry. EINVALID without a key or
	// when there is nothing to seal; EUNAUTHORIZED, EFORBIDDEN.
	Seal(ctx context.Context) (*AuditSeal, error)
	// ExportAudit records an "audit.export" entry naming f, then calls fn
	// with every entry f selects that is older than that entry, oldest
	// first (f's order, offset and limit are ignored). An error of fn ends
	// the export and is returned. EINVALID, EUNAUTHORIZED, EFORBIDDEN.
	ExportAudit(ctx context.Context, f AuditFilter, fn func(*AuditEntry) error) error
	// NoteAPIKeyUse counts a request made with key k. The trail gets an
	// "apikey.use" entry at the key's first use and then at most one an
	// hour, with the count of requests since the last: a gateway sending
	// thousands a second must not drown the trail. Failures are logged.
	NoteAPIKeyUse(ctx context.Context, k *APIKey)
}

type sourceKey struct{}

// NewContextWithSource returns ctx carrying the client's address, for the
// audit trail. The HTTP layer sets it once per request.
func NewContextWithSource(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// SourceFromContext returns the client's address, or "" when the request
// came from the command line.
func SourceFromContext(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// AuditName names the actor as the audit trail does: a user by e-mail
// address, so that the trail stays readable after accounts change.
func (a *Actor) AuditName() string {
	if a != nil && !a.System && a.User != nil {
		return a.User.Email
	}
	return a.Name()
}
