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

// Login implements cityops.AuthService.
func (d *DB) Login(ctx context.Context, email, password, userAgent, remoteAddr string) (string, *cityops.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var id int64
	var hash string
	var disabled sql.Null[time.Time]
	source := remoteAddr
	if source == "" {
		source = cityops.SourceFromContext(ctx)
	}
	// A failed sign-in is recorded on its own; the trail tells why, the
	// person signing in is not told.
	failed := func(why string) error {
		d.auditAside(ctx, &cityops.AuditEntry{Actor: "anonymous", Source: source, Action: "auth.login_failed",
			Object: "user:" + email, Outcome: cityops.AuditFailed, Detail: why})
		return errBadLogin
	}
	err := d.db.QueryRowContext(ctx, `select id, password_hash, disabled_at from users where email = $1`, email).Scan(&id, &hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		auth.VerifyPassword(password, d.dummyHash())
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
		return "", nil, failed("wrong password")
	case disabled.Valid:
		return "", nil, failed("account disabled")
	}
	token := auth.NewToken(32)
	err = d.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `insert into sessions (id, user_id, created_at, last_seen_at, expires_at, user_agent, remote_addr)
			values ($1, $2, $3, $4, $5, $6, $7)`, auth.HashToken(token), id, tx.now, tx.now, tx.now.Add(d.Sessions.Lifetime),
			truncate(userAgent, 300), truncate(remoteAddr, 100)); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		// Expired sessions of anyone are swept as people sign in.
		if _, err := tx.ExecContext(ctx, `delete from sessions where expires_at < $1 or last_seen_at < $2`,
			tx.now, tx.now.Add(-d.Sessions.Idle)); err != nil {
			return fmt.Errorf("sweep sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `update users set last_login_at = $1 where id = $2`, tx.now, id); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		return appendAudit(ctx, tx, &cityops.AuditEntry{Actor: email, Source: source, Action: "auth.login",
			Object: "user:" + email, Outcome: cityops.AuditOK})
	})
	if err != nil {
		return "", nil, err
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, id))
	if err != nil {
		return "", nil, fmt.Errorf("login: %w", err)
	}
	return token, u, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// sessionTouchEvery limits writes: last_seen_at moves at most this often.
const sessionTouchEvery = time.Minute

// ActorBySession implements cityops.AuthService.
func (d *DB) ActorBySession(ctx context.Context, token string) (*cityops.Actor, error) {
	if token == "" {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "not signed in")
	}
	id := auth.HashToken(token)
	var uid int64
	var lastSeen, expires time.Time
	err := d.db.QueryRowContext(ctx, `select user_id, last_seen_at, expires_at from sessions where id = $1`, id).Scan(&uid, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "session unknown or ended")
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	now := d.Now().UTC()
	if now.After(expires) || now.Sub(lastSeen) > d.Sessions.Idle {
		d.db.ExecContext(ctx, `delete from sessions where id = $1`, id)
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "session expired; sign in again")
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, uid))
	if err != nil {
		return nil, fmt.Errorf("session user: %w", err)
	}
	if !u.Active() {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "account disabled")
	}
	if now.Sub(lastSeen) > sessionTouchEvery {
		if _, err := d.db.ExecContext(ctx, `update sessions set last_seen_at = $1 where id = $2`, now.Truncate(time.Microsecond), id); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	return &cityops.Actor{User: u, SessionID: id}, nil
}

// Logout implements cityops.AuthService.
func (d *DB) Logout(ctx context.Context, token string) error {
	if _, err := d.db.ExecContext(ctx, `delete from sessions where id = $1`, auth.HashToken(token)); err != nil {
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
	if _, err := d.db.ExecContext(ctx, `delete from sessions where user_id = $1`, userID); err != nil {
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
		if _, err := d.db.ExecContext(ctx, `update api_keys set last_used_at = $1 where id = $2`, now.Truncate(time.Microsecond), k.ID); err != nil {
			return nil, fmt.Errorf("api key use: %w", err)
		}
	}
	return &cityops.Actor{APIKey: k}, nil
}
