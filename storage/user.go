package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
)

var _ cityops.UserService = (*DB)(nil)

const userCols = `u.id, u.email, u.name, u.role, coalesce(g.code, ''), coalesce(a.code, ''), u.language,
	u.disabled_at, u.last_login_at, u.created_at, u.updated_at, u.totp_enabled_at`

const userFrom = ` from users u left join agencies g on g.id = u.agency_id left join areas a on a.id = u.area_id`

func scanUser(row interface{ Scan(...any) error }) (*cityops.User, error) {
	var u cityops.User
	var disabled, last, mfa sql.Null[time.Time]
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.AgencyCode, &u.AreaCode, &u.Language,
		&disabled, &last, &u.CreatedAt, &u.UpdatedAt, &mfa); err != nil {
		return nil, err
	}
	u.DisabledAt, u.LastLoginAt, u.MFAEnabledAt = nullTime(disabled), nullTime(last), nullTime(mfa)
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// FindUserByID implements cityops.UserService. A user may always read
// their own account, and whoever may change accounts may read them.
func (d *DB) FindUserByID(ctx context.Context, id int64) (*cityops.User, error) {
	if a := cityops.ActorFromContext(ctx); a == nil || a.User == nil || a.User.ID != id {
		if err := authorize(ctx, cityops.PermUsersRead); err != nil && !a.Can(cityops.PermUsersWrite) {
			return nil, err
		}
	}
	u, err := scanUser(d.db.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cityops.Errorf(cityops.ENOTFOUND, "user %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// FindUsers implements cityops.UserService.
func (d *DB) FindUsers(ctx context.Context, f cityops.UserFilter) ([]*cityops.User, int, error) {
	if err := authorize(ctx, cityops.PermUsersRead); err != nil {
		return nil, 0, err
	}
	var w where
	if f.ID != nil {
		w.add("u.id = ?", *f.ID)
	}
	if f.Email != nil {
		w.add("u.email = ?", *f.Email)
	}
	if f.Role != nil {
		w.add("u.role = ?", *f.Role)
	}
	if f.Agency != nil {
		w.add("g.code = ?", *f.Agency)
	}
	if f.Area != nil {
		w.add("a.code = ?", *f.Area)
	}
	var total int
	if err := d.db.QueryRowContext(ctx, `select count(*)`+userFrom+w.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `select `+userCols+userFrom+w.String()+` order by u.email`+d.page(f.Offset, f.Limit), w.args...)
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	out := []*cityops.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("find users: %w", err)
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

// scopeIDs resolves a user's agency and area codes inside tx.
func scopeIDs(ctx context.Context, tx *Tx, agency, area string) (agencyID, areaID any, err error) {
	var v cityops.Validation
	if agency != "" {
		var id int64
		err := tx.QueryRowContext(ctx, `select id from agencies where code = $1`, agency).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			v.Add("agency", "unknown agency %q", agency)
		case err != nil:
			return nil, nil, fmt.Errorf("user agency: %w", err)
		default:
			agencyID = id
		}
	}
	if area != "" {
		var id int64
		err := tx.QueryRowContext(ctx, `select id from areas where code = $1`, area).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			v.Add("area", "unknown area %q", area)
		case err != nil:
			return nil, nil, fmt.Errorf("user area: %w", err)
		default:
			areaID = id
		}
	}
	return agencyID, areaID, v.Err()
}

// CreateUser implements cityops.UserService.
func (d *DB) CreateUser(ctx context.Context, u *cityops.User, password string) error {
	if err := authorize(ctx, cityops.PermUsersWrite); err != nil {
		d.auditDenied(ctx, "user.create", "user:"+u.Email, err)
		return err
	}
	verr := u.Validate()
	perr := checkPassword(password, u.Email, u.Name)
	if verr != nil || perr != nil {
		return mergeInvalid(verr, perr)
	}
	hash, err := auth.HashPassword(password, d.PasswordParams)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return d.inTx(ctx, func(tx *Tx) error {
		agencyID, areaID, err := scopeIDs(ctx, tx, u.AgencyCode, u.AreaCode)
		if err != nil {
			return err
		}
		u.CreatedAt, u.UpdatedAt = tx.now, tx.now
		err = tx.QueryRowContext(ctx, `insert into users (email, name, role, agency_id, area_id, language, password_hash, created_at, updated_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id`,
			u.Email, u.Name, u.Role, agencyID, areaID, u.Language, hash, tx.now, tx.now).Scan(&u.ID)
		if isUnique(err) {
			return &cityops.Error{Code: cityops.ECONFLICT, Message: "a user with this e-mail exists", Fields: map[string]string{"email": "is in use"}}
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		return tx.audit(ctx, "user.create", "user:"+u.Email, userDetail(u))
	})
}

// mergeInvalid joins the field problems of several validation errors.
func mergeInvalid(errs ...error) error {
	out := &cityops.Error{Code: cityops.EINVALID, Message: "invalid input", Fields: map[string]string{}}
	for _, err := range errs {
		for k, v := range cityops.ErrorFields(err) {
			out.Fields[k] = v
		}
	}
	return out
}

// UpdateUser implements cityops.UserService. Disabling a user ends their
// sessions in the same transaction.
func (d *DB) UpdateUser(ctx context.Context, id int64, upd cityops.UserUpdate) (*cityops.User, error) {
	if err := authorize(ctx, cityops.PermUsersWrite); err != nil {
		d.auditDenied(ctx, "user.update", fmt.Sprintf("user:%d", id), err)
		return nil, err
	}
	var out *cityops.User
	err := d.inTx(ctx, func(tx *Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, `select `+userCols+userFrom+` where u.id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return cityops.Errorf(cityops.ENOTFOUND, "user %d not found", id)
		}
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		access := userDetail(u) // before the change, for the audit trail
		set(&u.Name, upd.Name)
		set(&u.Role, upd.Role)
		set(&u.AgencyCode, upd.AgencyCode)
		set(&u.AreaCode, upd.AreaCode)
		set(&u.Language, upd.Language)
		reenabled := false
		if upd.Disabled != nil {
			switch {
			case *upd.Disabled && u.DisabledAt == nil:
				t := tx.now
				u.DisabledAt = &t
			case !*upd.Disabled:
				reenabled = u.DisabledAt != nil
				u.DisabledAt = nil
			}
		}
		if err := u.Validate(); err != nil {
			return err
		}
		agencyID, areaID, err := scopeIDs(ctx, tx, u.AgencyCode, u.AreaCode)
		if err != nil {
			return err
		}
		u.UpdatedAt = tx.now
		if _, err := tx.ExecContext(ctx, `update users set name = $1, role = $2, agency_id = $3, area_id = $4, language = $5,
			disabled_at = $6, updated_at = $7 where id = $8`,
			u.Name, u.Role, agencyID, areaID, u.Language, timeArg(u.DisabledAt), tx.now, u.ID); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		if u.DisabledAt != nil {
			if _, err := tx.ExecContext(ctx, `delete from sessions where user_id = $1`, u.ID); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		if reenabled {
			// The inactivity count starts afresh, or the hourly sweep
			// would disable the account again at once.
			if _, err := tx.ExecContext(ctx, `update users set enabled_at = $1 where id = $2`, tx.now, u.ID); err != nil {
				return fmt.Errorf("enable user: %w", err)
			}
		}
		if err := tx.audit(ctx, "user.update", "user:"+u.Email, accessChange(access, userDetail(u))); err != nil {
			return err
		}
		out = u
		return nil
	})
	return out, err
}

// SetPassword implements cityops.UserService: an administrator sets
// someone's password. People change their own with ChangePassword, which
// asks for the current one.
func (d *DB) SetPassword(ctx context.Context, id int64, password string) error {
	if err := authorize(ctx, cityops.PermUsersWrite); err != nil {
		d.auditDenied(ctx, "user.password", fmt.Sprintf("user:%d", id), err)
		return err
	}
	var email, name string
	err := d.db.QueryRowContext(ctx, `select email, name from users where id = $1`, id).Scan(&email, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return cityops.Errorf(cityops.ENOTFOUND, "user %d not found", id)
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := checkPassword(password, email, name); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password, d.PasswordParams)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return d.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `update users set password_hash = $1, password_changed_at = $2, updated_at = $2 where id = $3`, hash, tx.now, id)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cityops.Errorf(cityops.ENOTFOUND, "user %d not found", id)
		}
		if _, err := tx.ExecContext(ctx, `delete from sessions where user_id = $1`, id); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		return tx.audit(ctx, "user.password", "user:"+email, "")
	})
}

// userDetail describes an account's access for the audit trail.
func userDetail(u *cityops.User) string {
	s := "role=" + u.Role
	if u.AgencyCode != "" {
		s += " agency=" + u.AgencyCode
	}
	if u.AreaCode != "" {
		s += " area=" + u.AreaCode
	}
	if u.DisabledAt != nil {
		s += " disabled"
	}
	return s
}
