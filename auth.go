package cityops

import (
	"context"
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
}

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
	// Idle ends a session not used for this long.
	Idle time.Duration
	// Lifetime ends a session this long after sign-in, used or not.
	Lifetime time.Duration
}

// AuthService signs people and machines in.
type AuthService interface {
	// Login checks email and password and starts a session, returning the
	// token to put in the cookie. EUNAUTHORIZED for any wrong or disabled
	// credentials, without saying which.
	Login(ctx context.Context, email, password, userAgent, remoteAddr string) (token string, u *User, err error)
	// ActorBySession returns the actor behind a session token and extends
	// the session; EUNAUTHORIZED when it is unknown, idle or expired.
	ActorBySession(ctx context.Context, token string) (*Actor, error)
	// Logout ends the session; ending an unknown one is not an error.
	Logout(ctx context.Context, token string) error
	// LogoutAll ends every session of a user.
	LogoutAll(ctx context.Context, userID int64) error
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
