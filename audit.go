package cityops

import (
	"context"
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

// AuditFilter selects audit entries; nil fields do not filter.
type AuditFilter struct {
	Actor  *string
	Action *string
	Object *string
	// Since and Until bound At: Since inclusive, Until exclusive.
	Since, Until *time.Time
	Offset       int
	Limit        int
}

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

// AuditVerification is the result of walking the whole chain.
type AuditVerification struct {
	Entries int // entries checked
	Seals   int // seals checked
	// SealKey tells whether the seals' HMACs were checked (a key was
	// given) or only that they name an entry with the sealed hash.
	SealKey bool
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
	// FindAudit returns entries in id order and the count of all that
	// match. EUNAUTHORIZED, EFORBIDDEN.
	FindAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, int, error)
	// VerifyAudit walks the whole chain and checks every seal.
	// EUNAUTHORIZED, EFORBIDDEN.
	VerifyAudit(ctx context.Context) (*AuditVerification, error)
	// Seal checkpoints the chain's last entry. EINVALID without a key or
	// when there is nothing to seal; EUNAUTHORIZED, EFORBIDDEN.
	Seal(ctx context.Context) (*AuditSeal, error)
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
