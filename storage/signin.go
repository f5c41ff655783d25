package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/keyring"
)

// This file holds the hardened parts of signing in: lockout after failed
// attempts, the TOTP second factor and its recovery codes, changing and
// resetting passwords, and disabling unused accounts. Login and
// ActorBySession are in auth.go.

// checkPassword applies the password policy: the length rule, then the
// breached and guessable password checks against the account's own name
// and e-mail.
func checkPassword(pw, email, name string) error {
	if err := cityops.ValidatePassword(pw); err != nil {
		return err
	}
	if why := auth.WeakPassword(pw, email, name); why != "" {
		var v cityops.Validation
		v.Add("password", "%s; a few unrelated words make a strong passphrase", why)
		return v.Err()
	}
	return nil
}

// pendingLifetime is how long a sign-in may wait for its second factor.
const pendingLifetime = 10 * time.Minute

// recoveryCodeCount is how many recovery codes a user gets.
const recoveryCodeCount = 10

// throttleKeys names what failed sign-ins are counted against: the
// account (by the e-mail typed, whether or not it exists) and the source
// address (an IPv6 address by its /64, which one host usually holds).
func throttleKeys(email, source string) []string {
	keys := []string{"account:" + email}
	if ip, err := netip.ParseAddr(source); err == nil {
		if ip.Is6() && !ip.Is4In6() {
			p, _ := ip.Prefix(64)
			source = p.String()
		}
		keys = append(keys, "source:"+source)
	}
	return keys
}

// lockedFor returns how long the longest lock on keys still lasts.
func (d *DB) lockedFor(ctx context.Context, keys []string) (time.Duration, error) {
	if d.SignIn.Failures <= 0 {
		return 0, nil
	}
	now := d.Now().UTC()
	var wait time.Duration
	for _, k := range keys {
		var until sql.Null[time.Time]
		err := d.db.QueryRowContext(ctx, `select locked_until from signin_failures where key = $1`, k).Scan(&until)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("sign-in lock: %w", err)
		}
		if until.Valid && until.V.After(now) && until.V.Sub(now) > wait {
			wait = until.V.Sub(now)
		}
	}
	return wait, nil
}

// tooManyFailures is the refusal while locked. It says the same whether or
// not the account exists, and does not say which lock holds.
func tooManyFailures(wait time.Duration) error {
	return cityops.TooMany(wait, "too many failed sign-in attempts; try again in %d minutes", int(math.Ceil(wait.Minutes())))
}

// noteFailure counts a failed attempt against keys, locking those that
// reach SignIn.Failures within SignIn.Window. A lock is recorded in the
// audit trail.
func (d *DB) noteFailure(ctx context.Context, keys []string) {
	if d.SignIn.Failures <= 0 {
		return
	}
	err := d.inTx(ctx, func(tx *Tx) error {
		for _, k := range keys {
			var n int
			err := tx.QueryRowContext(ctx, `insert into signin_failures (key, failures, first_at) values ($1, 1, $2)
				on conflict (key) do update set
					failures = case when signin_failures.first_at < $3 then 1 else signin_failures.failures + 1 end,
					first_at = case when signin_failures.first_at < $3 then excluded.first_at else signin_failures.first_at end
				returning failures`, k, tx.now, tx.now.Add(-d.SignIn.Window)).Scan(&n)
			if err != nil {
				return fmt.Errorf("count failure: %w", err)
			}
			if n < d.SignIn.Failures {
				continue
			}
			// Locked: the count starts again when the lock ends.
			if _, err := tx.ExecContext(ctx, `update signin_failures set failures = 0, first_at = $1, locked_until = $2 where key = $3`,
				tx.now, tx.now.Add(d.SignIn.Lockout), k); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if err := appendAudit(ctx, tx, &cityops.AuditEntry{Actor: "anonymous", Source: cityops.SourceFromContext(ctx), Action: "auth.lockout",
				Object: k, Outcome: cityops.AuditFailed, Detail: fmt.Sprintf("%d failures; locked for %s", n, d.SignIn.Lockout)}); err != nil {
				return err
			}
		}
		// Old rows of anyone are swept as failures come in.
		_, err := tx.ExecContext(ctx, `delete from signin_failures where first_at < $1 and (locked_until is null or locked_until < $2)`,
			tx.now.Add(-d.SignIn.Window-d.SignIn.Lockout), tx.now)
		return err
	})
	if err != nil {
		d.Log.Error("sign-in failure count", "err", err)
	}
}

// clearFailures forgets an account's failures after it signed in fully.
func clearFailures(ctx context.Context, tx *Tx, email string) error {
	_, err := tx.ExecContext(ctx, `delete from signin_failures where key = $1`, "account:"+email)
	return err
}

// sessionUser returns the user of the context's browser session, pending
// or not; EUNAUTHORIZED without one.
func sessionUser(ctx context.Context) (*cityops.Actor, error) {
	a := cityops.ActorFromContext(ctx)
	if a == nil || a.User == nil || a.SessionID == "" {
		return nil, cityops.Errorf(cityops.EUNAUTHORIZED, "sign in first")
	}
	return a, nil
}

// startSession replaces the session oldID (if any) by a new, fully
// signed-in one and records the sign-in. A new token at every step up
// means a token seen before the second factor is worth nothing after it.
func (d *DB) startSession(ctx context.Context, tx *Tx, oldID string, u *cityops.User, userAgent, remote, how string) (string, error) {
	if oldID != "" {
		if err := tx.QueryRowContext(ctx, `delete from sessions where id = $1 returning user_agent, remote_addr`, oldID).Scan(&userAgent, &remote); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return "", cityops.Errorf(cityops.EUNAUTHORIZED, "the sign-in has ended; sign in again")
			}
			return "", fmt.Errorf("end session: %w", err)
		}
	}
	token := auth.NewToken(32)
	if _, err := tx.ExecContext(ctx, `insert into sessions (id, user_id, created_at, last_seen_at, expires_at, user_agent, remote_addr, stage)
		values ($1, $2, $3, $3, $4, $5, $6, '')`, auth.HashToken(token), u.ID, tx.now, tx.now.Add(d.Sessions.Lifetime),
		truncate(userAgent, 300), truncate(remote, 100)); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `update users set last_login_at = $1 where id = $2`, tx.now, u.ID); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if err := clearFailures(ctx, tx, u.Email); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	source := remote
	if source == "" {
		source = cityops.SourceFromContext(ctx)
	}
	return token, appendAudit(ctx, tx, &cityops.AuditEntry{Actor: u.Email, Source: source, Action: "auth.login",
		Object: "user:" + u.Email, Outcome: cityops.AuditOK, Detail: how})
}

// CompleteMFA implements cityops.AuthService.
func (d *DB) CompleteMFA(ctx context.Context, token, code string) (string, error) {
	id := auth.HashToken(token)
	var uid int64
	var stage string
	var expires time.Time
	err := d.db.QueryRowContext(ctx, `select user_id, stage, expires_at from sessions where id = $1`, id).Scan(&uid, &stage, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (stage != cityops.SessionMFA || d.Now().After(expires))) {
		return "", cityops.Errorf(cityops.EUNAUTHORIZED, "the sign-in has ended; sign in again")
	}
	if err != nil {
		return "", fmt.Errorf("complete sign-in: %w", err)
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, uid))
	if err != nil {
		return "", fmt.Errorf("complete sign-in: %w", err)
	}
	keys := throttleKeys(u.Email, cityops.SourceFromContext(ctx))
	if wait, err := d.lockedFor(ctx, keys); err != nil {
		return "", err
	} else if wait > 0 {
		return "", tooManyFailures(wait)
	}
	var secret string
	var last int64
	if err := d.db.QueryRowContext(ctx, `select totp_secret, totp_last_step from users where id = $1`, uid).Scan(&secret, &last); err != nil {
		return "", fmt.Errorf("complete sign-in: %w", err)
	}
	if secret, err = d.openTOTP(uid, secret); err != nil {
		return "", err
	}
	var newToken string
	err = d.inTx(ctx, func(tx *Tx) error {
		how := "password and TOTP"
		if step, ok := auth.VerifyTOTP(secret, code, tx.now, last); ok {
			// The step is stored so the same code cannot sign in twice.
			res, err := tx.ExecContext(ctx, `update users set totp_last_step = $1 where id = $2 and totp_last_step < $1`, step, uid)
			if err != nil {
				return fmt.Errorf("complete sign-in: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errWrongCode
			}
		} else {
			res, err := tx.ExecContext(ctx, `update recovery_codes set used_at = $1 where user_id = $2 and hash = $3 and used_at is null`,
				tx.now, uid, auth.HashToken(auth.NormalizeRecoveryCode(code)))
			if err != nil {
				return fmt.Errorf("complete sign-in: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errWrongCode
			}
			how = "password and a recovery code"
		}
		newToken, err = d.startSession(ctx, tx, id, u, "", "", how)
		return err
	})
	if errors.Is(err, errWrongCode) {
		d.noteFailure(ctx, keys)
		d.auditAside(ctx, &cityops.AuditEntry{Actor: u.Email, Source: cityops.SourceFromContext(ctx), Action: "auth.login_failed",
			Object: "user:" + u.Email, Outcome: cityops.AuditFailed, Detail: "wrong second-factor code"})
	}
	return newToken, err
}

// sealTOTP seals a TOTP secret with the data keys when there are some: a
// copy of the database alone then gives no one the codes. The secret and
// the pending secret share the associated data, so that confirming moves
// the sealed value as it is.
func (d *DB) sealTOTP(uid int64, secret string) string {
	if d.Keys == nil {
		return secret
	}
	return d.Keys.Seal(secret, totpAAD(uid))
}

func (d *DB) openTOTP(uid int64, stored string) (string, error) {
	if d.Keys == nil {
		return stored, nil
	}
	s, err := d.Keys.Open(stored, totpAAD(uid))
	if err != nil {
		return "", fmt.Errorf("user %d: TOTP secret: %w", uid, err)
	}
	return s, nil
}

// sealTOTPSecrets seals again with the current key every TOTP secret
// (set up or pending) that is in clear or sealed with another key this
// keyring holds: part of a sealing pass after a key rotation, so that an
// old key can be removed. There are few, so it is one transaction.
func (d *DB) sealTOTPSecrets(ctx context.Context) (b SealBatch, err error) {
	ids := map[string]bool{}
	for _, id := range d.Keys.IDs() {
		ids[id] = true
	}
	err = d.inTx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `select id, totp_secret, totp_pending from users where totp_secret <> '' or totp_pending <> ''`)
		if err != nil {
			return fmt.Errorf("seal totp: %w", err)
		}
		type row struct {
			id              int64
			secret, pending string
		}
		var list []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.secret, &r.pending); err != nil {
				rows.Close()
				return fmt.Errorf("seal totp: %w", err)
			}
			list = append(list, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("seal totp: %w", err)
		}
	next:
		for _, r := range list {
			var out [2]string
			for i, v := range []string{r.secret, r.pending} {
				if v == "" {
					continue
				}
				if id := keyring.SealedWith(v); id != "" && !ids[id] {
					b.Skipped++
					continue next
				}
				plain, err := d.openTOTP(r.id, v)
				if err != nil {
					d.Log.Error("TOTP secret does not open", "user", r.id, "err", err)
					b.Failed++
					continue next
				}
				out[i] = d.sealTOTP(r.id, plain)
			}
			if _, err := tx.ExecContext(ctx, `update users set totp_secret = $1, totp_pending = $2 where id = $3`, out[0], out[1], r.id); err != nil {
				return fmt.Errorf("seal totp: %w", err)
			}
			b.Sealed++
		}
		return nil
	})
	return b, err
}

// totpStatus adds the TOTP secrets to a count of sealed values by key id.
func (d *DB) totpStatus(ctx context.Context, out map[string]int) error {
	rows, err := d.db.QueryContext(ctx, `select totp_secret, totp_pending from users where totp_secret <> '' or totp_pending <> ''`)
	if err != nil {
		return fmt.Errorf("totp status: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v [2]string
		if err := rows.Scan(&v[0], &v[1]); err != nil {
			return fmt.Errorf("totp status: %w", err)
		}
		for _, s := range v {
			if s != "" {
				out[keyring.SealedWith(s)]++
			}
		}
	}
	return rows.Err()
}

func totpAAD(uid int64) []byte { return []byte("users.totp:" + strconv.FormatInt(uid, 10)) }

var errWrongCode = cityops.Errorf(cityops.EUNAUTHORIZED, "the code is wrong or was used already")

// BeginMFA implements cityops.AuthService.
func (d *DB) BeginMFA(ctx context.Context) (*cityops.MFASetup, error) {
	a, err := sessionUser(ctx)
	if err != nil {
		return nil, err
	}
	var pending string
	var enabled sql.Null[time.Time]
	if err := d.db.QueryRowContext(ctx, `select totp_pending, totp_enabled_at from users where id = $1`, a.User.ID).Scan(&pending, &enabled); err != nil {
		return nil, fmt.Errorf("begin mfa: %w", err)
	}
	if enabled.Valid {
		return nil, cityops.Errorf(cityops.ECONFLICT, "two-step sign-in is on already")
	}
	// The same secret is offered until it is confirmed, so reloading the
	// page after scanning the code does not invalidate what was scanned.
	if pending == "" {
		pending = auth.NewTOTPSecret()
		if _, err := d.execWrite(ctx, `update users set totp_pending = $1 where id = $2`, d.sealTOTP(a.User.ID, pending), a.User.ID); err != nil {
			return nil, fmt.Errorf("begin mfa: %w", err)
		}
	} else if pending, err = d.openTOTP(a.User.ID, pending); err != nil {
		return nil, err
	}
	return &cityops.MFASetup{Secret: pending, URI: auth.TOTPURI("cityops", a.User.Email, pending)}, nil
}

// ConfirmMFA implements cityops.AuthService.
func (d *DB) ConfirmMFA(ctx context.Context, token, code string) (string, []string, error) {
	a, err := sessionUser(ctx)
	if err != nil {
		return "", nil, err
	}
	var stored string
	if err := d.db.QueryRowContext(ctx, `select totp_pending from users where id = $1`, a.User.ID).Scan(&stored); err != nil {
		return "", nil, fmt.Errorf("confirm mfa: %w", err)
	}
	if stored == "" {
		return "", nil, cityops.Errorf(cityops.ECONFLICT, "start setting up two-step sign-in first")
	}
	pending, err := d.openTOTP(a.User.ID, stored)
	if err != nil {
		return "", nil, err
	}
	step, ok := auth.VerifyTOTP(pending, code, d.Now(), 0)
	if !ok {
		var v cityops.Validation
		v.Add("code", "does not match; check that the phone's clock is right and type the code now shown")
		return "", nil, v.Err()
	}
	codes := auth.NewRecoveryCodes(recoveryCodeCount)
	var newToken string
	err = d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update users set totp_secret = totp_pending, totp_pending = '', totp_enabled_at = $1, totp_last_step = $2
			where id = $3 and totp_pending = $4`, tx.now, step, a.User.ID, stored)
		if err != nil {
			return fmt.Errorf("confirm mfa: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ECONFLICT, "two-step sign-in was set up in another window")
		}
		if err := replaceRecoveryCodes(ctx, tx, a.User.ID, codes); err != nil {
			return err
		}
		if err := tx.audit(ctx, "user.mfa_enabled", "user:"+a.User.Email, ""); err != nil {
			return err
		}
		if a.Pending == cityops.SessionEnrol {
			newToken, err = d.startSession(ctx, tx, a.SessionID, a.User, "", "", "password and TOTP (set up now)")
		}
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return newToken, codes, nil
}

func replaceRecoveryCodes(ctx context.Context, tx *Tx, uid int64, codes []string) error {
	if _, err := tx.ExecContext(ctx, `delete from recovery_codes where user_id = $1`, uid); err != nil {
		return fmt.Errorf("recovery codes: %w", err)
	}
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, `insert into recovery_codes (user_id, hash) values ($1, $2)`, uid, auth.HashToken(c)); err != nil {
			return fmt.Errorf("recovery codes: %w", err)
		}
	}
	return nil
}

// checkOwnPassword verifies the signed-in user's password before a
// sensitive change; a wrong one counts towards the account's lockout.
func (d *DB) checkOwnPassword(ctx context.Context, a *cityops.Actor, password string) error {
	if a.Pending != "" {
		return cityops.Errorf(cityops.EUNAUTHORIZED, "finish signing in first")
	}
	keys := throttleKeys(a.User.Email, cityops.SourceFromContext(ctx))
	if wait, err := d.lockedFor(ctx, keys); err != nil {
		return err
	} else if wait > 0 {
		return tooManyFailures(wait)
	}
	var hash string
	if err := d.db.QueryRowContext(ctx, `select password_hash from users where id = $1`, a.User.ID).Scan(&hash); err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	ok, err := auth.VerifyPassword(password, hash)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if !ok {
		d.noteFailure(ctx, keys)
		var v cityops.Validation
		v.Add("current_password", "is not your password")
		return v.Err()
	}
	return nil
}

// DisableMFA implements cityops.AuthService.
func (d *DB) DisableMFA(ctx context.Context, password string) error {
	a, err := sessionUser(ctx)
	if err != nil {
		return err
	}
	if d.SignIn.NeedsMFA(a.User.Role) {
		return cityops.Errorf(cityops.EFORBIDDEN, "your role must sign in in two steps")
	}
	if err := d.checkOwnPassword(ctx, a, password); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		if err := clearMFA(ctx, tx, a.User.ID); err != nil {
			return err
		}
		return tx.audit(ctx, "user.mfa_disabled", "user:"+a.User.Email, "")
	})
}

func clearMFA(ctx context.Context, tx *Tx, uid int64) error {
	if _, err := tx.ExecContext(ctx, `update users set totp_secret = '', totp_pending = '', totp_enabled_at = null where id = $1`, uid); err != nil {
		return fmt.Errorf("turn mfa off: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `delete from recovery_codes where user_id = $1`, uid); err != nil {
		return fmt.Errorf("turn mfa off: %w", err)
	}
	return nil
}

// NewRecoveryCodes implements cityops.AuthService.
func (d *DB) NewRecoveryCodes(ctx context.Context, password string) ([]string, error) {
	a, err := sessionUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.checkOwnPassword(ctx, a, password); err != nil {
		return nil, err
	}
	codes := auth.NewRecoveryCodes(recoveryCodeCount)
	err = d.inTx(ctx, func(tx *Tx) error {
		var on sql.Null[time.Time]
		if err := tx.QueryRowContext(ctx, `select totp_enabled_at from users where id = $1`, a.User.ID).Scan(&on); err != nil {
			return fmt.Errorf("recovery codes: %w", err)
		}
		if !on.Valid {
			return cityops.Errorf(cityops.ECONFLICT, "two-step sign-in is off: there is nothing to recover")
		}
		if err := replaceRecoveryCodes(ctx, tx, a.User.ID, codes); err != nil {
			return err
		}
		return tx.audit(ctx, "user.recovery_codes", "user:"+a.User.Email, "")
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetMFA implements cityops.AuthService.
func (d *DB) ResetMFA(ctx context.Context, userID int64) error {
	if err := authorize(ctx, cityops.PermUsersWrite); err != nil {
		d.auditDenied(ctx, "user.mfa_reset", fmt.Sprintf("user:%d", userID), err)
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		var email string
		err := tx.QueryRowContext(ctx, `select email from users where id = $1`, userID).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "user %d not found", userID)
		}
		if err != nil {
			return fmt.Errorf("reset mfa: %w", err)
		}
		if err := clearMFA(ctx, tx, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `delete from sessions where user_id = $1`, userID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return tx.audit(ctx, "user.mfa_reset", "user:"+email, "")
	})
}

// ChangePassword implements cityops.AuthService.
func (d *DB) ChangePassword(ctx context.Context, current, next string) error {
	a, err := sessionUser(ctx)
	if err != nil {
		return err
	}
	if err := d.checkOwnPassword(ctx, a, current); err != nil {
		return err
	}
	if err := checkPassword(next, a.User.Email, a.User.Name); err != nil {
		return err
	}
	if next == current {
		var v cityops.Validation
		v.Add("password", "is the same as the current one")
		return v.Err()
	}
	hash, err := auth.HashPassword(next, d.PasswordParams)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return d.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `update users set password_hash = $1, password_changed_at = $2, updated_at = $2 where id = $3`,
			hash, tx.now, a.User.ID); err != nil {
			return fmt.Errorf("change password: %w", err)
		}
		// Whoever else holds a session of this account is signed out.
		if _, err := tx.ExecContext(ctx, `delete from sessions where user_id = $1 and id <> $2`, a.User.ID, a.SessionID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return tx.audit(ctx, "user.password_changed", "user:"+a.User.Email, "by the user; other sessions ended")
	})
}

// FindSessions implements cityops.AuthService.
func (d *DB) FindSessions(ctx context.Context) ([]*cityops.Session, error) {
	a, err := sessionUser(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `select id, user_id, created_at, last_seen_at, expires_at, user_agent, remote_addr, stage
		from sessions where user_id = $1 and expires_at > $2 order by last_seen_at desc`, a.User.ID, d.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("find sessions: %w", err)
	}
	defer rows.Close()
	var out []*cityops.Session
	for rows.Next() {
		var s cityops.Session
		if err := rows.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &s.UserAgent, &s.RemoteAddr, &s.Stage); err != nil {
			return nil, fmt.Errorf("find sessions: %w", err)
		}
		s.Current = s.ID == a.SessionID
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
		out = append(out, &s)
	}
	return out, rows.Err()
}

// RequestPasswordReset implements cityops.AuthService.
func (d *DB) RequestPasswordReset(ctx context.Context, email string) (string, *cityops.User, error) {
	email = normalizeEmail(email)
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !u.Active()) {
		d.auditAside(ctx, &cityops.AuditEntry{Actor: cityops.ActorFromContext(ctx).AuditName(), Source: cityops.SourceFromContext(ctx),
			Action: "auth.reset_requested", Object: "user:" + email, Outcome: cityops.AuditFailed, Detail: "no active account"})
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("password reset: %w", err)
	}
	token := auth.NewToken(32)
	err = d.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `delete from password_resets where expires_at < $1`, tx.now); err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `insert into password_resets (hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)`,
			auth.HashToken(token), u.ID, tx.now, tx.now.Add(d.SignIn.ResetTTL)); err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
		return tx.audit(ctx, "auth.reset_requested", "user:"+email, "")
	})
	if err != nil {
		return "", nil, err
	}
	return token, u, nil
}

// errBadResetLink refuses a reset token that is unknown, used or expired.
var errBadResetLink = &cityops.Error{Code: cityops.EINVALID, Message: "this link is unknown, used or expired; ask for a new one",
	Fields: map[string]string{"token": "is unknown, used or expired"}}

// ResetPassword implements cityops.AuthService.
func (d *DB) ResetPassword(ctx context.Context, token, password string) error {
	hash := auth.HashToken(token)
	var uid int64
	var expires time.Time
	var used sql.Null[time.Time]
	err := d.db.QueryRowContext(ctx, `select user_id, expires_at, used_at from password_resets where hash = $1`, hash).Scan(&uid, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (used.Valid || d.Now().After(expires))) {
		return errBadResetLink
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, uid))
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := checkPassword(password, u.Email, u.Name); err != nil {
		return err
	}
	pwHash, err := auth.HashPassword(password, d.PasswordParams)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update password_resets set used_at = $1 where hash = $2 and used_at is null`, tx.now, hash)
		if err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errBadResetLink
		}
		if _, err := tx.ExecContext(ctx, `update users set password_hash = $1, password_changed_at = $2, updated_at = $2 where id = $3`,
			pwHash, tx.now, uid); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		// Other links and every session of the account end; the lock on
		// the account lifts (its owner proved they hold the mailbox). A
		// second factor is still asked for at the next sign-in.
		for _, q := range []string{`delete from password_resets where user_id = $1 and used_at is null`, `delete from sessions where user_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, uid); err != nil {
				return fmt.Errorf("reset password: %w", err)
			}
		}
		if err := clearFailures(ctx, tx, u.Email); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		return appendAudit(ctx, tx, &cityops.AuditEntry{Actor: u.Email, Source: cityops.SourceFromContext(ctx), Action: "user.password_reset",
			Object: "user:" + u.Email, Outcome: cityops.AuditOK, Detail: "with an e-mailed link"})
	})
}

// DisableInactive implements cityops.AuthService.
func (d *DB) DisableInactive(ctx context.Context) (int, error) {
	if d.SignIn.InactiveAfter <= 0 {
		return 0, nil
	}
	n := 0
	err := d.inTx(ctx, func(tx *Tx) error {
		cutoff := tx.now.Add(-d.SignIn.InactiveAfter)
		rows, err := tx.QueryContext(ctx, `select id, email from users where disabled_at is null
			and coalesce(last_login_at, created_at) < $1 and coalesce(enabled_at, created_at) < $1`, cutoff)
		if err != nil {
			return fmt.Errorf("inactive users: %w", err)
		}
		type user struct {
			id    int64
			email string
		}
		var users []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.email); err != nil {
				rows.Close()
				return fmt.Errorf("inactive users: %w", err)
			}
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("inactive users: %w", err)
		}
		for _, u := range users {
			if _, err := tx.ExecContext(ctx, `update users set disabled_at = $1, updated_at = $1 where id = $2`, tx.now, u.id); err != nil {
				return fmt.Errorf("disable user: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `delete from sessions where user_id = $1`, u.id); err != nil {
				return fmt.Errorf("disable user: %w", err)
			}
			if err := appendAudit(ctx, tx, &cityops.AuditEntry{Actor: "system", Action: "user.disable_inactive", Object: "user:" + u.email,
				Outcome: cityops.AuditOK, Detail: fmt.Sprintf("not signed in for %s", d.SignIn.InactiveAfter)}); err != nil {
				return err
			}
		}
		n = len(users)
		return nil
	})
	return n, err
}

// normalizeEmail puts an e-mail address as typed in the form accounts are
// stored in.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
