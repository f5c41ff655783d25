package cityops

import (
	"context"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// User is a person who signs in: staff of an agency or ward, operators,
// steering-board members, administrators. Scope is given by AgencyCode
// and/or AreaCode: a ward officer works on one area, an agency officer for
// one agency.
type User struct {
	ID         int64  `json:"id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	AgencyCode string `json:"agency,omitempty"`
	AreaCode   string `json:"area,omitempty"`
	// Language is the preferred UI language tag; empty means negotiate.
	Language    string     `json:"language,omitempty"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	// MFAEnabledAt is when the user set up a second factor (TOTP).
	MFAEnabledAt *time.Time `json:"mfa_enabled_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Active reports whether the account may sign in and act.
func (u *User) Active() bool { return u.DisabledAt == nil }

// Validate checks the fields that do not need the database.
func (u *User) Validate() error {
	var v Validation
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.Name = strings.TrimSpace(u.Name)
	addr, err := mail.ParseAddress(u.Email)
	v.Check(err == nil && addr.Address == u.Email, "email", "is not an e-mail address")
	v.Check(len(u.Email) <= 254, "email", "is longer than 254 characters")
	v.Check(len(u.Name) <= 200, "name", "is longer than 200 characters")
	v.Check(ValidRole(u.Role), "role", "must be one of %s", strings.Join(Roles, ", "))
	switch u.Role {
	case RoleWardOfficer:
		v.Check(u.AreaCode != "", "area", "is required for a ward officer")
	case RoleAgencyOfficer, RoleAgencyHead:
		v.Check(u.AgencyCode != "", "agency", "is required for role %s", u.Role)
	}
	if u.Language != "" {
		v.Check(langRE.MatchString(u.Language), "language", "is not a language tag such as \"vi\" or \"en\"")
	}
	return v.Err()
}

// MinPasswordLength is the shortest password accepted. The hardening issue
// adds a breached-password check on top.
const MinPasswordLength = 12

// ValidatePassword checks a new password. It counts characters, not bytes,
// so Vietnamese passphrases are measured fairly.
func ValidatePassword(pw string) error {
	var v Validation
	n := utf8.RuneCountInString(pw)
	v.Check(n >= MinPasswordLength, "password", "must be at least %d characters", MinPasswordLength)
	v.Check(len(pw) <= 1024, "password", "is longer than 1024 bytes")
	v.Check(utf8.ValidString(pw), "password", "is not valid UTF-8")
	return v.Err()
}

// UserFilter selects users. Zero fields do not filter.
type UserFilter struct {
	ID     *int64
	Email  *string
	Role   *string
	Agency *string
	Area   *string
	Offset int
	Limit  int
}

// UserUpdate holds the fields to change; nil fields stay as they are.
type UserUpdate struct {
	Name       *string
	Role       *string
	AgencyCode *string
	AreaCode   *string
	Language   *string
	Disabled   *bool
}

// UserService manages staff accounts.
type UserService interface {
	// FindUserByID returns ENOTFOUND.
	FindUserByID(ctx context.Context, id int64) (*User, error)
	// FindUsers returns the matching users and the total count.
	FindUsers(ctx context.Context, f UserFilter) ([]*User, int, error)
	// CreateUser stores u with the password hashed. EINVALID (also for a
	// weak password or unknown agency/area), ECONFLICT for an e-mail in use,
	// EFORBIDDEN.
	CreateUser(ctx context.Context, u *User, password string) error
	// UpdateUser returns ENOTFOUND, EINVALID, EFORBIDDEN.
	UpdateUser(ctx context.Context, id int64, upd UserUpdate) (*User, error)
	// SetPassword replaces a user's password and ends their sessions.
	// EINVALID, ENOTFOUND, EFORBIDDEN.
	SetPassword(ctx context.Context, id int64, password string) error
}
