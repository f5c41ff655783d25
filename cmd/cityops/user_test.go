package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/cityops/cityops/storage"
)

// TestUserRecover: the console lets an operator back in when no
// administrator can sign in — an account disabled for inactivity is
// enabled, a lost second factor is turned off — and both are audited.
func TestUserRecover(t *testing.T) {
	dir := t.TempDir()
	if st, _, errs := run(t, "a long enough password\n", "user", "add", "-email", "lan@hue.gov.vn", "-role", "admin", "-data", dir); st != 0 {
		t.Fatal(errs)
	}
	ctx := context.Background()
	sys := cityops.NewContextWithActor(ctx, cityops.SystemActor())
	db, err := storage.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	db.SignIn.MFARoles = []string{cityops.RoleAdmin}
	token, u, err := db.Login(ctx, "lan@hue.gov.vn", "a long enough password", "", "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := db.ActorBySession(ctx, token)
	actx := cityops.NewContextWithActor(ctx, a)
	setup, _ := db.BeginMFA(actx)
	code, _ := auth.TOTPCode(setup.Secret, auth.TOTPStep(time.Now()))
	if _, _, err := db.ConfirmMFA(actx, token, code); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := db.UpdateUser(sys, u.ID, cityops.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, verb := range []string{"enable", "reset-mfa"} {
		if st, out, errs := run(t, "", "user", verb, "-email", "lan@hue.gov.vn", "-data", dir); st != 0 || !strings.Contains(out, "lan@hue.gov.vn") {
			t.Fatalf("user %s = %d %q %q", verb, st, out, errs)
		}
	}
	if st, _, errs := run(t, "", "user", "enable", "-email", "nobody@hue.gov.vn", "-data", dir); st != exitUsage || !strings.Contains(errs, "no account") {
		t.Fatalf("unknown account: %d %q", st, errs)
	}
	db, err = storage.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.FindUserByID(sys, u.ID)
	if err != nil || !got.Active() || got.MFAEnabledAt != nil {
		t.Fatalf("after recovery: %+v, %v", got, err)
	}
	for _, action := range []string{"user.update", "user.mfa_reset"} {
		list, _, err := db.FindAudit(sys, cityops.AuditFilter{Action: &action, Actor: ptrTo("system")})
		if err != nil || len(list) == 0 {
			t.Errorf("no %s entry by the system: %v", action, err)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
