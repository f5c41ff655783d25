// Package cityops holds the domain of the cityops smart-city operations
// platform: the city's organisation (areas, sectors, agencies, categories),
// its staff and machine clients, the error type and the service interfaces
// that the storage package implements. It imports nothing of its own so that
// every other package can depend on it.
package cityops

import (
	"context"
	"time"
)

// Version is the running build's version, set by the linker in releases.
var Version = "dev"

// Names holds translations of a name keyed by language tag ("en", "fr").
// The untranslated, official name lives beside it; Vietnamese is the
// official language, so a missing translation falls back to it.
type Names map[string]string

// In returns the name in lang, or def when there is no translation.
func (n Names) In(lang, def string) string {
	if v, ok := n[lang]; ok && v != "" {
		return v
	}
	return def
}

// Actor is whoever makes a request: a signed-in user or a machine client
// holding an API key. A nil *Actor is the anonymous public.
type Actor struct {
	User   *User
	APIKey *APIKey
	// SessionID is the hashed session identifier when the actor signed in
	// through the browser; empty for API keys.
	SessionID string
	// System marks the program itself acting from the command line
	// (migrations, demo data, `cityops user add`): it may do anything.
	System bool
	// Pending is set while a sign-in awaits its second factor
	// (SessionMFA) or its set-up (SessionEnrol): such an actor may do
	// only what the public may.
	Pending string
}

// SystemActor is the actor for work started by an operator at the console.
func SystemActor() *Actor { return &Actor{System: true} }

// Can reports whether the actor holds permission p. API keys hold exactly
// the scopes they were created with; users hold their role's permissions.
func (a *Actor) Can(p Permission) bool {
	if a == nil {
		return p == PermPublic
	}
	if p == PermPublic || a.System {
		return true
	}
	if a.Pending != "" {
		return false
	}
	if a.APIKey != nil {
		for _, s := range a.APIKey.Scopes {
			if Permission(s) == p {
				return true
			}
		}
		return false
	}
	if a.User != nil && a.User.Active() {
		return RoleCan(a.User.Role, p)
	}
	return false
}

// Name describes the actor for logs and audit records.
func (a *Actor) Name() string {
	switch {
	case a == nil:
		return "anonymous"
	case a.System:
		return "system"
	case a.User != nil:
		return "user:" + a.User.Email
	case a.APIKey != nil:
		return "apikey:" + a.APIKey.Prefix
	}
	return "anonymous"
}

type actorKey struct{}

// NewContextWithActor returns ctx carrying the request's actor.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the request's actor, or nil for the public.
func ActorFromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// Clock returns the current time. Services take one so that tests can fix
// the time; production uses time.Now.
type Clock func() time.Time
