package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/geo"
)

func runMigrate(ctx context.Context, args []string, env *Env) int {
	fs, dbf := flagSet("migrate", "[flags]", env)
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	fmt.Fprintf(env.Stdout, "database is up to date (%s)\n", db.Dialect())
	return exitOK
}

func failParse(env *Env, st int, err error) int {
	if st == exitOK {
		return st
	}
	return fail(env.Stderr, st, err)
}

// sub splits "user add …" into the verb and its arguments.
func sub(args []string, env *Env, cmd string, verbs ...string) (string, []string, int) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(env.Stderr, "cityops %s: give one of: %s\n", cmd, strings.Join(verbs, ", "))
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return "", nil, exitOK
		}
		return "", nil, exitUsage
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], -1
		}
	}
	fmt.Fprintf(env.Stderr, "cityops %s: unknown %q; give one of: %s\n", cmd, args[0], strings.Join(verbs, ", "))
	return "", nil, exitUsage
}

func system(ctx context.Context) context.Context {
	return cityops.NewContextWithActor(ctx, cityops.SystemActor())
}

func runUser(ctx context.Context, args []string, env *Env) int {
	verb, args, st := sub(args, env, "user", "add", "enable", "reset-mfa")
	if st >= 0 {
		return st
	}
	if verb != "add" {
		return runUserRecover(ctx, verb, args, env)
	}
	fs, dbf := flagSet("user add", "-email E -role R [-agency CODE] [-area CODE] [-name N] < password", env)
	email := fs.String("email", "", "e-mail `address`, used to sign in")
	role := fs.String("role", "", "`role`: "+strings.Join(cityops.Roles, ", "))
	agency := fs.String("agency", "", "agency `code` the user works for")
	area := fs.String("area", "", "area `code` the user works in (ward officers)")
	name := fs.String("name", "", "full `name`")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("user add: unexpected argument %q", fs.Arg(0)))
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return fail(env.Stderr, exitUsage, errors.New("user add: give the password on standard input"))
	}
	password := strings.TrimRight(line, "\r\n")
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	u := &cityops.User{Email: *email, Name: *name, Role: *role, AgencyCode: *agency, AreaCode: *area}
	if err := db.CreateUser(system(ctx), u, password); err != nil {
		return fail(env.Stderr, exitFor(err), err)
	}
	fmt.Fprintf(env.Stdout, "created user %d <%s> with role %s\n", u.ID, u.Email, u.Role)
	return exitOK
}

// runUserRecover is the console's way back in when no administrator can
// sign in: "enable" lifts a disabled account (one unused for the
// inactivity limit, say), "reset-mfa" turns off the second factor of
// someone who lost their phone and recovery codes (they set it up again
// at the next sign-in). Both are audited as the system's.
func runUserRecover(ctx context.Context, verb string, args []string, env *Env) int {
	fs, dbf := flagSet("user "+verb, "-email E", env)
	email := fs.String("email", "", "the account's e-mail `address`")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if *email == "" || fs.NArg() > 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("user %s: give -email E and nothing else", verb))
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	sctx := system(ctx)
	users, _, err := db.FindUsers(sctx, cityops.UserFilter{Email: email, Limit: 1})
	if err != nil {
		return fail(env.Stderr, exitFor(err), err)
	}
	if len(users) == 0 {
		return fail(env.Stderr, exitUsage, fmt.Errorf("user %s: no account has the e-mail address %s", verb, *email))
	}
	u := users[0]
	switch verb {
	case "enable":
		no := false
		if _, err := db.UpdateUser(sctx, u.ID, cityops.UserUpdate{Disabled: &no}); err != nil {
			return fail(env.Stderr, exitFor(err), err)
		}
		fmt.Fprintf(env.Stdout, "enabled user %d <%s>\n", u.ID, u.Email)
	case "reset-mfa":
		if err := db.ResetMFA(sctx, u.ID); err != nil {
			return fail(env.Stderr, exitFor(err), err)
		}
		fmt.Fprintf(env.Stdout, "turned off two-step sign-in of user %d <%s>; it is set up again at the next sign-in\n", u.ID, u.Email)
	}
	return exitOK
}

// exitFor returns the exit status for a domain error: usage for bad input.
func exitFor(err error) int {
	if cityops.ErrorCode(err) == cityops.EINVALID || cityops.ErrorCode(err) == cityops.ECONFLICT {
		return exitUsage
	}
	return exitError
}

func runAPIKey(ctx context.Context, args []string, env *Env) int {
	verb, args, st := sub(args, env, "apikey", "create", "list", "revoke")
	if st >= 0 {
		return st
	}
	var scopesHelp []string
	for _, s := range cityops.Scopes {
		scopesHelp = append(scopesHelp, string(s))
	}
	fs, dbf := flagSet("apikey "+verb, "[flags]", env)
	name := fs.String("name", "", "what the key is for, e.g. `\"HEPCO dispatch system\"`")
	scopes := fs.String("scopes", "", "comma-separated `scopes`: "+strings.Join(scopesHelp, ", "))
	id := fs.Int64("id", 0, "`id` of the key to revoke")
	agency := fs.String("agency", "", "agency `code` the key acts for (its own system working its reports)")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	sctx := system(ctx)
	switch verb {
	case "create":
		var list []string
		for _, s := range strings.Split(*scopes, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
		k := &cityops.APIKey{Name: *name, Scopes: list, Agency: *agency}
		secret, err := db.CreateAPIKey(sctx, k)
		if err != nil {
			return fail(env.Stderr, exitFor(err), err)
		}
		fmt.Fprintln(env.Stdout, secret)
		fmt.Fprintf(env.Stderr, "created API key %d (%s) with scopes %s; it is shown only now\n", k.ID, k.Prefix, strings.Join(k.Scopes, ","))
	case "list":
		keys, err := db.FindAPIKeys(sctx)
		if err != nil {
			return fail(env.Stderr, exitError, err)
		}
		for _, k := range keys {
			state := "active"
			if k.RevokedAt != nil {
				state = "revoked " + k.RevokedAt.Format("2006-01-02")
			}
			fmt.Fprintf(env.Stdout, "%d\tcok_%s_…\t%s\t%s\t%s\n", k.ID, k.Prefix, strings.Join(k.Scopes, ","), state, k.Name)
		}
	case "revoke":
		if *id <= 0 {
			return fail(env.Stderr, exitUsage, errors.New("apikey revoke: give -id"))
		}
		if err := db.RevokeAPIKey(sctx, *id); err != nil {
			return fail(env.Stderr, exitFor(err), err)
		}
		fmt.Fprintf(env.Stdout, "revoked API key %d\n", *id)
	}
	return exitOK
}

func runAreas(ctx context.Context, args []string, env *Env) int {
	_, args, st := sub(args, env, "areas", "import")
	if st >= 0 {
		return st
	}
	fs, dbf := flagSet("areas import", "[flags] FILE.geojson", env)
	codeProp := fs.String("code-property", "code", "feature `property` holding the area's code")
	nameProp := fs.String("name-property", "name", "feature `property` holding the area's name")
	kind := fs.String("kind", "", "`kind` for features without a \"kind\" property: "+strings.Join(cityops.AreaKinds, ", "))
	parent := fs.String("parent", "", "parent area `code` for features without a \"parent\" property")
	approx := fs.Bool("approximate", false, "mark the boundaries as approximate (not official)")
	if st, err := parse(fs, args); st >= 0 {
		return failParse(env, st, err)
	}
	if fs.NArg() != 1 {
		return fail(env.Stderr, exitUsage, errors.New("areas import: give exactly one GeoJSON file"))
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return fail(env.Stderr, exitUsage, err)
	}
	features, err := geo.ParseFeatureCollection(f)
	f.Close()
	if err != nil {
		return fail(env.Stderr, exitUsage, fmt.Errorf("%s: %w", path, err))
	}
	areas := make([]*cityops.Area, 0, len(features))
	for i, ft := range features {
		str := func(key, def string) string {
			if v, ok := ft.Properties[key].(string); ok && v != "" {
				return v
			}
			return def
		}
		a := &cityops.Area{Code: str(*codeProp, ""), Name: str(*nameProp, ""), Kind: str("kind", *kind),
			ParentCode: str("parent", *parent), Approximate: *approx}
		if v, ok := ft.Properties["approximate"].(bool); ok {
			a.Approximate = v
		}
		if a.Code == "" {
			return fail(env.Stderr, exitUsage, fmt.Errorf("%s: feature %d: no %q property", path, i, *codeProp))
		}
		b, err := ft.Geometry.MarshalJSON()
		if err != nil {
			return fail(env.Stderr, exitError, err)
		}
		a.Boundary = b
		areas = append(areas, a)
	}
	db, err := dbf.open(ctx, quietLog(env.Stderr))
	if err != nil {
		return fail(env.Stderr, exitError, err)
	}
	defer db.Close()
	created, updated, err := db.ImportAreas(system(ctx), areas)
	if err != nil {
		return fail(env.Stderr, exitFor(err), fmt.Errorf("%s: %w (nothing was imported)", path, err))
	}
	fmt.Fprintf(env.Stdout, "imported %s: %d areas created, %d updated\n", path, created, updated)
	return exitOK
}

func runVersion(ctx context.Context, args []string, env *Env) int {
	fmt.Fprintf(env.Stdout, "cityops %s\n", cityops.Version)
	return exitOK
}
