package storage

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
)

var _ cityops.AuthService = (*DB)(nil)

// errBadLogin is the one answer to every failed sign-in, so that it does not
// tell whether the account exists.
var errBadLogin = cityops.Errorf(cityops.EUNAUTHORIZED, "wrong e-mail or password")

// dummyHash is verified when the account does not exist, so that a failed
// sign-in takes as long either way. It is made once, with the same costs as
// real hashes.
func (d *DB) dummyHash() string {
	d.dummyOnce.Do(func() {
		d.dummy, _ = auth.HashPassword("not a password of anyone", d.PasswordParams)
	})
	return d.dummy
}

// Login implements cityops.AuthService. A password is the first step: for
// a user with a second factor, or whose role needs one, the session
// starts half-open (Session.Stage) until CompleteMFA or ConfirmMFA.
// Failures count towards a lockout of the account and of the source
// address; while locked, Login answers ETOOMANY without checking the
// password, alike for accounts that exist and those that do not.
func (d *DB) Login(ctx context.Context, email, password, userAgent, remoteAddr string) (string, *cityops.User, error) {
	email = normalizeEmail(email)
	source := remoteAddr
	if source == "" {
		source = cityops.SourceFromContext(ctx)
	}
	keys := throttleKeys(email, source)
	// A failed sign-in is recorded on its own; the trail tells why, the
	// person signing in is not told.
	failed := func(why string) error {
		d.auditAside(ctx, &cityops.AuditEntry{Actor: "anonymous", Source: source, Action: "auth.login_failed",
			Object: "user:" + email, Outcome: cityops.AuditFailed, Detail: why})
		return errBadLogin
	}
	if wait, err := d.lockedFor(ctx, keys); err != nil {
		return "", nil, err
	} else if wait > 0 {
		failed("locked out")
		return "", nil, tooManyFailures(wait)
	}
	var id int64
	var hash string
	var disabled, mfa sql.Null[time.Time]
	err := d.db.QueryRowContext(ctx, `select id, password_hash, disabled_at, totp_enabled_at from users where email = $1`, email).Scan(&id, &hash, &disabled, &mfa)
	if errors.Is(err, sql.ErrNoRows) {
		auth.VerifyPassword(password, d.dummyHash())
		d.noteFailure(ctx, keys)
		return "", nil, failed("unknown account")
	}
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	ok, err := auth.VerifyPassword(password, hash)
	if err != nil {
		return "", nil, fmt.Errorf("login: user %d: %w", id, err)
	}
	switch {
	case !ok:
		d.noteFailure(ctx, keys)
		return "", nil, failed("wrong password")
	case disabled.Valid:
		d.noteFailure(ctx, keys)
		return "", nil, failed("account disabled")
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, id))
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	token, err := d.firstStep(ctx, u, mfa.Valid, false, userAgent, remoteAddr, source, "password")
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// LoginExternal implements cityops.AuthService.
func (d *DB) LoginExternal(ctx context.Context, email, provider string, mfaDone bool, userAgent, remoteAddr string) (string, *cityops.User, error) {
	email = normalizeEmail(email)
	source := remoteAddr
	if source == "" {
		source = cityops.SourceFromContext(ctx)
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !u.Active()) {
		why := "no account"
		if err == nil {
			why = "account disabled"
		}
		d.auditAside(ctx, &cityops.AuditEntry{Actor: "anonymous", Source: source, Action: "auth.login_failed",
			Object: "user:" + email, Outcome: cityops.AuditFailed, Detail: provider + ": " + why})
		return "", nil, cityops.Errorf(cityops.EUNAUTHORIZED, "no active cityops account has the e-mail address %s; ask an administrator", email)
	}
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	token, err := d.firstStep(ctx, u, u.MFAEnabledAt != nil, mfaDone, userAgent, remoteAddr, source, provider)
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// firstStep starts the session of someone who passed the first step of
// signing in (how), half-open when a second factor is still owed: the
// user has TOTP, or the role needs a second factor, and the first step
// did not include one (mfaDone: an identity provider that says it asked
// for one).
func (d *DB) firstStep(ctx context.Context, u *cityops.User, hasTOTP, mfaDone bool, userAgent, remoteAddr, source, how string) (string, error) {
	stage := ""
	switch {
	case mfaDone:
	case hasTOTP:
		stage = cityops.SessionMFA
	case d.SignIn.NeedsMFA(u.Role):
		stage = cityops.SessionEnrol
	}
	var token string
	err := d.inTx(ctx, func(tx *Tx) error {
		// Expired sessions of anyone are swept as people sign in.
		if _, err := tx.ExecContext(ctx, `delete from sessions where expires_at < $1 or last_seen_at < $2`,
			tx.now, tx.now.Add(-max(d.Sessions.Idle, d.Sessions.IdleAdmin))); err != nil {
			return fmt.Errorf("sweep sessions: %w", err)
		}
		if stage == "" {
			var err error
			token, err = d.startSession(ctx, tx, "", u, userAgent, remoteAddr, how)
			return err
		}
		token = auth.NewToken(32)
		if _, err := tx.ExecContext(ctx, `insert into sessions (id, user_id, created_at, last_seen_at, expires_at, user_agent, remote_addr, stage)
			values ($1, $2, $3, $3, $4, $5, $6, $7)`, auth.HashToken(token), u.ID, tx.now, tx.now.Add(pendingLifetime),
			truncate(userAgent, 300), truncate(remoteAddr, 100), stage); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		why := how + " right; second factor awaited"
		if stage == cityops.SessionEnrol {
			why = how + " right; second factor to set up"
		}
		return appendAudit(ctx, tx, &cityops.AuditEntry{Actor: u.Email, Source: source, Action: "auth.first_step",
			Object: "user:" + u.Email, Outcome: cityops.AuditOK, Detail: why})
	})
	return token, err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// sessionTouchEvery limits writes: last_seen_at moves at most this often
// (or a tenth of the idle time, when that is shorter).
const sessionTouchEvery = time.Minute

// ActorBySession implements cityops.AuthService. The idle limit depends on
// the role (administrators' sessions end sooner); a session still waiting
// for its second factor gives an actor that may do only what the public
// may (Actor.Pending).
func (d *DB) ActorBySession(ctx context.Context, token string) (*cityops.Actor, error) {
	if token == "" {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "not signed in")
	}
	id := auth.HashToken(token)
	var uid int64
	var lastSeen, expires time.Time
	var stage string
	err := d.db.QueryRowContext(ctx, `select user_id, last_seen_at, expires_at, stage from sessions where id = $1`, id).Scan(&uid, &lastSeen, &expires, &stage)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "session unknown or ended")
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, uid))
	if err != nil {
		return nil, fmt.Errorf("session user: %w", err)
	}
	now := d.Now().UTC()
	idle := d.Sessions.IdleFor(u.Role)
	if now.After(expires) || now.Sub(lastSeen) > idle {
		d.execWrite(ctx, `delete from sessions where id = $1`, id)
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "session expired; sign in again")
	}
	if !u.Active() {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "account disabled")
	}
	if now.Sub(lastSeen) > min(sessionTouchEvery, idle/10) {
		if _, err := d.execWrite(ctx, `update sessions set last_seen_at = $1 where id = $2`, now.Truncate(time.Microsecond), id); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	return &cityops.Actor{User: u, SessionID: id, Pending: stage}, nil
}

// Logout implements cityops.AuthService.
func (d *DB) Logout(ctx context.Context, token string) error {
	if _, err := d.execWrite(ctx, `delete from sessions where id = $1`, auth.HashToken(token)); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// LogoutAll implements cityops.AuthService.
func (d *DB) LogoutAll(ctx context.Context, userID int64) error {
	if a := cityops.ActorFromContext(ctx); a == nil || a.User == nil || a.User.ID != userID {
		if err := authorize(ctx, cityops.PermUsersWrite); err != nil {
			return err
		}
	}
	if _, err := d.execWrite(ctx, `delete from sessions where user_id = $1`, userID); err != nil {
		return fmt.Errorf("logout all: %w", err)
	}
	return nil
}

// API keys look like "cok_<prefix>_<secret>": the prefix finds the row, the
// SHA-256 of the whole key is compared in constant time.
const apiKeyTag = "cok_"

// CreateAPIKey implements cityops.AuthService.
func (d *DB) CreateAPIKey(ctx context.Context, k *cityops.APIKey) (string, error) {
	if err := authorize(ctx, cityops.PermAPIKeysManage); err != nil {
		d.auditDenied(ctx, "apikey.create", "", err)
		return "", err
	}
	name, scopes := k.Name, k.Scopes
	var v cityops.Validation
	name = strings.TrimSpace(name)
	v.Check(name != "", "name", "is required")
	v.Check(len(name) <= 200, "name", "is longer than 200 characters")
	v.Check(len(scopes) > 0, "scopes", "give at least one scope")
	scopes = dedupe(scopes)
	for _, s := range scopes {
		if !cityops.ValidScope(s) {
			var known []string
			for _, k := range cityops.Scopes {
				known = append(known, string(k))
			}
			v.Add("scopes", "unknown scope %q; known scopes: %s", s, strings.Join(known, ", "))
		}
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	// The prefix is 8 letters or digits: tokens are base64url, so drop
	// '-' and '_' and draw again in the rare case too few are left.
	prefix := ""
	for len(prefix) < 8 {
		prefix = strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(auth.NewToken(8)))
	}
	prefix = prefix[:8]
	secret := apiKeyTag + prefix + "_" + auth.NewToken(32)
	k.Name, k.Prefix, k.Scopes = name, prefix, scopes
	err := d.inTx(ctx, func(tx *Tx) error {
		k.CreatedAt = tx.now
		agency, err := optionalAgency(ctx, tx, "agency", k.Agency)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `insert into api_keys (name, prefix, hash, scopes, created_at, agency_id) values ($1, $2, $3, $4, $5, $6) returning id`,
			name, prefix, auth.HashToken(secret), strings.Join(scopes, ","), tx.now, agency).Scan(&k.ID)
		if err != nil {
			return fmt.Errorf("create api key: %w", err)
		}
		detail := "scopes=" + strings.Join(scopes, ",")
		if k.Agency != "" {
			detail += " agency=" + k.Agency
		}
		return tx.audit(ctx, "apikey.create", "apikey:"+prefix, detail)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

const apiKeyCols = `k.id, k.name, k.prefix, k.scopes, coalesce(g.code, ''), k.created_at, k.last_used_at, k.revoked_at`

const apiKeyFrom = ` from api_keys k left join agencies g on g.id = k.agency_id`

func scanAPIKey(row interface{ Scan(...any) error }, extra ...any) (*cityops.APIKey, error) {
	var k cityops.APIKey
	var scopes string
	var used, revoked sql.Null[time.Time]
	if err := row.Scan(append([]any{&k.ID, &k.Name, &k.Prefix, &scopes, &k.Agency, &k.CreatedAt, &used, &revoked}, extra...)...); err != nil {
		return nil, err
	}
	k.Scopes = strings.Split(scopes, ",")
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt, k.RevokedAt = nullTime(used), nullTime(revoked)
	return &k, nil
}

// FindAPIKeys implements cityops.AuthService.
func (d *DB) FindAPIKeys(ctx context.Context) ([]*cityops.APIKey, error) {
	if err := authorize(ctx, cityops.PermAPIKeysManage); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `select `+apiKeyCols+apiKeyFrom+` order by k.id`)
	if err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	defer rows.Close()
	out := []*cityops.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("find api keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements cityops.AuthService.
func (d *DB) RevokeAPIKey(ctx context.Context, id int64) error {
	if err := authorize(ctx, cityops.PermAPIKeysManage); err != nil {
		d.auditDenied(ctx, "apikey.revoke", fmt.Sprintf("apikey:%d", id), err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		var prefix string
		err := tx.QueryRowContext(ctx, `update api_keys set revoked_at = coalesce(revoked_at, $1) where id = $2 returning prefix`, tx.now, id).Scan(&prefix)
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "API key %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("revoke api key: %w", err)
		}
		return tx.audit(ctx, "apikey.revoke", "apikey:"+prefix, "")
	})
}

// ActorByAPIKey implements cityops.AuthService.
func (d *DB) ActorByAPIKey(ctx context.Context, secret string) (*cityops.Actor, error) {
	bad := cityops.Errorf(cityops.EUNAUTHORIZED, "unknown or revoked API key")
	rest, ok := strings.CutPrefix(secret, apiKeyTag)
	if !ok || len(rest) < 10 || rest[8] != '_' {
		return nil, bad
	}
	var hash string
	k, err := scanAPIKey(d.db.QueryRowContext(ctx, `select `+apiKeyCols+`, k.hash`+apiKeyFrom+` where k.prefix = $1`, rest[:8]), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hash), []byte(auth.HashToken(secret))) != 1 || k.RevokedAt != nil {
		return nil, bad
	}
	now := d.Now().UTC()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > sessionTouchEvery {
		if _, err := d.execWrite(ctx, `update api_keys set last_used_at = $1 where id = $2`, now.Truncate(time.Microsecond), k.ID); err != nil {
			return nil, fmt.Errorf("api key use: %w", err)
		}
	}
	return &cityops.Actor{APIKey: k}, nil
}
