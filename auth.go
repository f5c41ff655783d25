package cityops

import (
	"context"
	"slices"
	"time"
)

// Session is a signed-in browser. Only a hash of its token is stored, so a
// copy of the database does not let anyone sign in.
type Session struct {
	ID         string // hex SHA-256 of the token
	UserID     int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	UserAgent  string
	RemoteAddr string
	// Stage is "" for a signed-in session, SessionMFA while the second
	// factor is awaited, SessionEnrol while a second factor must be set up.
	Stage string
	// Current marks the session of the request that listed it.
	Current bool
}

// The stages of a session that is not fully signed in yet.
const (
	SessionMFA   = "mfa"
	SessionEnrol = "enrol"
)

// APIKey lets a machine client (an agency's system, a sensor gateway) call
// the API. The key is shown once at creation; only its hash is stored.
type APIKey struct {
	ID     int64    `json:"id"`
	Name   string   `json:"name"`
	Prefix string   `json:"prefix"` // the public part, to recognise a key in lists and logs
	Scopes []string `json:"scopes"`
	// Agency, when set, lets the key act for that agency on its reports.
	Agency     string     `json:"agency,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// SessionConfig sets how long sessions live.
type SessionConfig struct {
	// Idle ends a staff session not used for this long.
	Idle time.Duration
	// IdleAdmin ends an administrator's session not used for this long;
	// 0 means Idle.
	IdleAdmin time.Duration
	// Lifetime ends a session this long after sign-in, used or not.
	Lifetime time.Duration
}

// IdleFor returns how long a session of role may stay unused.
func (c SessionConfig) IdleFor(role string) time.Duration {
	if role == RoleAdmin && c.IdleAdmin > 0 {
		return c.IdleAdmin
	}
	return c.Idle
}

// SignInConfig sets the rules of signing in.
type SignInConfig struct {
	// MFARoles must sign in with a second factor; others may choose to.
	MFARoles []string
	// Failures within Window lock the account, or the source address,
	// for Lockout. Failures 0 turns lockout off.
	Failures int
	Window   time.Duration
	Lockout  time.Duration
	// InactiveAfter disables accounts nobody signed in to for this long
	// (0: never).
	InactiveAfter time.Duration
	// ResetTTL is how long a password reset link works.
	ResetTTL time.Duration
}

// NeedsMFA reports whether role must sign in with a second factor.
func (c SignInConfig) NeedsMFA(role string) bool { return slices.Contains(c.MFARoles, role) }

// MFASetup is a second factor being set up: the secret to put in an
// authenticator app, as text and as the otpauth URI of its QR code.
type MFASetup struct {
	Secret string
	URI    string
}

// AuthService signs people and machines in.
type AuthService interface {
	// Login checks email and password and starts a session, returning the
	// token to put in the cookie. EUNAUTHORIZED for any wrong or disabled
	// credentials, without saying which.
	Login(ctx context.Context, email, password, userAgent, remoteAddr string) (token string, u *User, err error)
	// LoginExternal starts a session for the account with email after an
	// identity provider (OpenID Connect) signed the person in; mfaDone
	// says the provider asked for a second factor itself. EUNAUTHORIZED
	// when no active account has the address.
	LoginExternal(ctx context.Context, email, provider string, mfaDone bool, userAgent, remoteAddr string) (token string, u *User, err error)
	// ActorBySession returns the actor behind a session token and extends
	// the session; EUNAUTHORIZED when it is unknown, idle or expired.
	ActorBySession(ctx context.Context, token string) (*Actor, error)
	// Logout ends the session; ending an unknown one is not an error.
	Logout(ctx context.Context, token string) error
	// LogoutAll ends every session of a user.
	LogoutAll(ctx context.Context, userID int64) error
	// CompleteMFA finishes a sign-in waiting for its second factor with a
	// TOTP code or a recovery code, and returns the session's new token.
	// EUNAUTHORIZED for a wrong code, ETOOMANY when locked out.
	CompleteMFA(ctx context.Context, token, code string) (newToken string, err error)
	// BeginMFA starts setting up TOTP for the signed-in (or enrolling)
	// user. ECONFLICT when it is on already.
	BeginMFA(ctx context.Context) (*MFASetup, error)
	// ConfirmMFA turns TOTP on when code matches the secret BeginMFA gave,
	// and returns fresh recovery codes, shown once. A session that had to
	// enrol becomes signed in: its new token is returned ("" otherwise).
	ConfirmMFA(ctx context.Context, token, code string) (newToken string, recovery []string, err error)
	// DisableMFA turns the user's own TOTP off after checking the
	// password; EFORBIDDEN when the role requires it.
	DisableMFA(ctx context.Context, password string) error
	// NewRecoveryCodes replaces the user's recovery codes after checking
	// the password.
	NewRecoveryCodes(ctx context.Context, password string) ([]string, error)
	// ResetMFA turns a user's TOTP off (an administrator, for someone who
	// lost their phone); they set it up again at their next sign-in.
	ResetMFA(ctx context.Context, userID int64) error
	// ChangePassword changes the signed-in user's own password after
	// checking the current one, and ends their other sessions.
	ChangePassword(ctx context.Context, current, next string) error
	// FindSessions lists the signed-in user's sessions.
	FindSessions(ctx context.Context) ([]*Session, error)
	// RequestPasswordReset makes a single-use reset link token for the
	// account with email. It returns "" and no error when there is no
	// such active account, so that callers answer alike either way.
	RequestPasswordReset(ctx context.Context, email string) (token string, u *User, err error)
	// ResetPassword sets a new password with a reset token and ends the
	// user's sessions. EINVALID for a weak password, or with a "token"
	// field for an unknown, used or expired token.
	ResetPassword(ctx context.Context, token, password string) error
	// DisableInactive disables accounts unused for SignInConfig's
	// InactiveAfter and returns how many.
	DisableInactive(ctx context.Context) (int, error)
	// CreateAPIKey stores a key with k's name, scopes and agency, fills in
	// the rest of k and returns the secret, shown only once. EINVALID for
	// an empty name, unknown scopes or agency, EFORBIDDEN.
	CreateAPIKey(ctx context.Context, k *APIKey) (secret string, err error)
	// FindAPIKeys lists keys, revoked ones too. EFORBIDDEN.
	FindAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey returns ENOTFOUND, EFORBIDDEN.
	RevokeAPIKey(ctx context.Context, id int64) error
	// ActorByAPIKey returns EUNAUTHORIZED for unknown or revoked keys.
	ActorByAPIKey(ctx context.Context, secret string) (*Actor, error)
}
