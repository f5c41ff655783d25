package http

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/i18n"
)

// page is what every template gets: the request's language, actor and the
// page's own data, with helpers for translation and asset URLs.
type page struct {
	Lang  string
	Langs []i18n.Language
	Actor *cityops.Actor
	Path  string
	Data  any
	s     *Server
	r     *http.Request
}

// T translates key into the page's language.
func (p *page) T(key string, args ...any) string { return p.s.Catalog.T(p.Lang, key, args...) }

// Asset returns the content-hashed URL of an embedded asset.
func (p *page) Asset(path string) string { return "/static/" + p.s.assetHash + "/" + path }

// Can reports whether the viewer holds a permission, to hide links they
// could not follow.
func (p *page) Can(perm string) bool { return p.Actor.Can(cityops.Permission(perm)) }

// Name picks the translation of a name for the page's language.
func (p *page) Name(n cityops.Names, def string) string { return n.In(p.Lang, def) }

// LangURL returns the current page in another language.
func (p *page) LangURL(tag string) string {
	q := p.r.URL.Query()
	q.Set("lang", tag)
	return p.r.URL.Path + "?" + q.Encode()
}

// PublicWarnings returns the public warnings in force, shown on every
// page but the operations centre's own (which follows them live). A
// failure to read them leaves the banner out rather than the page.
func (p *page) PublicWarnings() []*cityops.Warning {
	if p.s.Warnings == nil || p.Path == "/ioc" {
		return nil
	}
	ws, err := p.s.Warnings.FindWarnings(p.r.Context(), true, 5)
	if err != nil {
		p.s.Log.Error("public warnings", "err", err)
		return nil
	}
	return ws
}

// Date formats a time for people in Huế (UTC+7), in the page's language.
func (p *page) Date(t any) string {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v == nil {
			return "—"
		}
		tt = *v
	default:
		return ""
	}
	return tt.In(hueZone).Format("02/01/2006 15:04")
}

// hueZone is Indochina Time. It is fixed (no daylight saving), so it needs
// no time-zone database on the server.
var hueZone = time.FixedZone("ICT", 7*3600)

func (s *Server) funcs() map[string]any {
	return map[string]any{
		"join":      strings.Join,
		"hasPrefix": strings.HasPrefix,
		"add":       func(a, b int) int { return a + b },
		"pct": func(n, of int) string {
			if of == 0 {
				return "—"
			}
			return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(of))
		},
		"num1": func(f float64) string { return fmt.Sprintf("%.1f", f) },
		// rate shows a fraction 0–1 as a whole percentage.
		"rate": func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
		// opt shows an optional figure, or a dash when there is none.
		"opt": func(f *float64) string {
			if f == nil {
				return "—"
			}
			return fmt.Sprintf("%.1f", *f)
		},
		"seq": func(from, to int) []int {
			var out []int
			for i := from; i <= to; i++ {
				out = append(out, i)
			}
			return out
		},
		"repeat": func(n int, s string) string {
			if n <= 0 {
				return ""
			}
			return strings.Repeat(s, n)
		},
	}
}

// executed records which templates have run, so a test can fail on a
// template that no page uses.
var executed sync.Map

// render executes a page template into a buffer first, so that a template
// error becomes a clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	t := s.tmpl
	if s.TemplateDir != "" {
		var err error
		if t, err = s.parseTemplates(); err != nil {
			s.Log.Error("templates", "err", err)
			http.Error(w, "template error", http.StatusInternalServerError)
			return
		}
	}
	p := &page{Lang: langFrom(r.Context()), Langs: s.Catalog.Languages(), Actor: cityops.ActorFromContext(r.Context()),
		Path: r.URL.Path, Data: data, s: s, r: r}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, p); err != nil {
		s.Log.Error("render", "template", name, "err", err)
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	executed.Store(name, true)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) error {
	if a := cityops.ActorFromContext(r.Context()); a.Can(cityops.PermStaff) {
		http.Redirect(w, r, "/staff", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/report", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/staff"
	}
	return next
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	if a := cityops.ActorFromContext(r.Context()); a != nil && a.Pending != "" {
		http.Redirect(w, r, "/login/verify?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	s.render(w, r, "login.html", map[string]any{"Next": next, "Email": "", "ResetDone": r.URL.Query().Get("reset") == "1"})
	return nil
}

// handleLogin checks e-mail and password. The session token is new at
// every sign-in, and any session the browser had before is ended. When a
// second factor is needed the session is half-open and the browser goes
// to the second step.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	token, u, err := s.Auth.Login(r.Context(), email, r.PostForm.Get("password"), r.UserAgent(), remoteIP(r))
	if code := cityops.ErrorCode(err); code == cityops.EUNAUTHORIZED || code == cityops.ETOOMANY {
		s.Log.Info("sign-in failed", "remote", remoteIP(r), "reason", code)
		if d := cityops.ErrorRetryAfter(err); d > 0 {
			w.Header().Set("Retry-After", strconvSeconds(d))
		}
		w.WriteHeader(ErrorStatus(err))
		s.render(w, r, "login.html", map[string]any{"Next": next, "Email": email, "Failed": code == cityops.EUNAUTHORIZED,
			"Locked": code == cityops.ETOOMANY, "Message": cityops.ErrorMessage(err)})
		return nil
	}
	if err != nil {
		return err
	}
	return s.signedIn(w, r, token, u, next)
}

// signedIn follows a first step of signing in (a password, or the city's
// identity provider): it ends the session the browser had before, sets
// the new one and sends the browser to next, or to the second step when
// one is owed.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, token string, u *cityops.User, next string) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		s.Auth.Logout(r.Context(), c.Value)
	}
	s.setSession(w, token)
	a, err := s.Auth.ActorBySession(r.Context(), token)
	if err != nil {
		return err
	}
	if a.Pending != "" {
		s.Log.Info("sign-in: second step", "user", u.ID, "remote", remoteIP(r))
		http.Redirect(w, r, "/login/verify?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	s.Log.Info("sign-in", "user", u.ID, "remote", remoteIP(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.Auth.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) handleStaffHome(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := time.Now()
	_, areas, err := s.Areas.FindAreas(ctx, cityops.AreaFilter{ValidAt: &now, Limit: 1})
	if err != nil {
		return err
	}
	_, agencies, err := s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{Limit: 1})
	if err != nil {
		return err
	}
	sectors, err := s.Sectors.FindSectors(ctx)
	if err != nil {
		return err
	}
	cats, err := s.Categories.FindCategories(ctx, cityops.CategoryFilter{})
	if err != nil {
		return err
	}
	users := -1
	if cityops.ActorFromContext(ctx).Can(cityops.PermUsersRead) {
		if _, users, err = s.Users.FindUsers(ctx, cityops.UserFilter{Limit: 1}); err != nil {
			return err
		}
	}
	perSector := map[string]int{}
	for _, c := range cats {
		perSector[c.Sector]++
	}
	s.render(w, r, "home.html", map[string]any{"Areas": areas, "Agencies": agencies, "Users": users,
		"Sectors": sectors, "Categories": len(cats), "PerSector": perSector})
	return nil
}

// areaRow is an area in the tree table, with its children's count.
type areaRow struct {
	*cityops.Area
	Children int
}

func (s *Server) handlePageAreas(w http.ResponseWriter, r *http.Request) error {
	areas, _, err := s.Areas.FindAreas(r.Context(), cityops.AreaFilter{})
	if err != nil {
		return err
	}
	// Order as a tree: each area followed by its sub-areas.
	kids := map[string][]*cityops.Area{}
	for _, a := range areas {
		kids[a.ParentCode] = append(kids[a.ParentCode], a)
	}
	var rows []areaRow
	var walk func(parent string)
	walk = func(parent string) {
		list := kids[parent]
		sort.Slice(list, func(i, j int) bool { return list[i].Code < list[j].Code })
		for _, a := range list {
			rows = append(rows, areaRow{a, len(kids[a.Code])})
			walk(a.Code)
		}
	}
	walk("")
	approx := false
	for _, a := range areas {
		approx = approx || a.Approximate
	}
	s.render(w, r, "areas.html", map[string]any{"Rows": rows, "Total": len(areas), "Approximate": approx, "Now": time.Now()})
	return nil
}

func (s *Server) handlePageArea(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a, err := s.Areas.FindAreaByCode(ctx, r.PathValue("code"))
	if err != nil {
		return err
	}
	children, _, err := s.Areas.FindAreas(ctx, cityops.AreaFilter{ParentCode: &a.Code})
	if err != nil {
		return err
	}
	agencies, _, err := s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{Area: &a.Code})
	if err != nil {
		return err
	}
	// Only those named for this area, not the city-wide ones too.
	var local []*cityops.Agency
	for _, g := range agencies {
		for _, c := range g.Areas {
			if c == a.Code {
				local = append(local, g)
				break
			}
		}
	}
	s.render(w, r, "area.html", map[string]any{"Area": a, "Children": children, "Agencies": local, "Current": a.ValidAt(time.Now())})
	return nil
}

func (s *Server) handlePageAgencies(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.AgencyFilter{Kind: queryStr(r, "kind"), Sector: queryStr(r, "sector")}
	if err := v.Err(); err != nil {
		return err
	}
	agencies, total, err := s.Agencies.FindAgencies(r.Context(), f)
	if err != nil {
		return err
	}
	sectors, err := s.Sectors.FindSectors(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, "agencies.html", map[string]any{"Agencies": agencies, "Total": total, "Kinds": cityops.AgencyKinds,
		"Kind": r.URL.Query().Get("kind"), "Sector": r.URL.Query().Get("sector"), "Sectors": sectors})
	return nil
}

func (s *Server) handlePageAgency(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := s.Agencies.FindAgencyByCode(ctx, r.PathValue("code"))
	if err != nil {
		return err
	}
	var users []*cityops.User
	if cityops.ActorFromContext(ctx).Can(cityops.PermUsersRead) {
		if users, _, err = s.Users.FindUsers(ctx, cityops.UserFilter{Agency: &g.Code}); err != nil {
			return err
		}
	}
	s.render(w, r, "agency.html", map[string]any{"Agency": g, "Users": users})
	return nil
}

func (s *Server) handlePageUsers(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.UserFilter{Role: queryStr(r, "role"), Offset: queryInt(r, &v, "offset", 0, 0, 1<<30), Limit: 200}
	if err := v.Err(); err != nil {
		return err
	}
	users, total, err := s.Users.FindUsers(r.Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if f.Offset+len(users) < total {
		q := url.Values{"offset": {fmt.Sprint(f.Offset + len(users))}}
		if f.Role != nil {
			q.Set("role", *f.Role)
		}
		next = "/staff/users?" + q.Encode()
	}
	s.render(w, r, "users.html", map[string]any{"Users": users, "Total": total, "Roles": cityops.Roles,
		"Role": r.URL.Query().Get("role"), "Next": next, "Done": r.URL.Query().Get("done")})
	return nil
}

// UnexecutedTemplates lists the page templates that have not been rendered
// in this process, for the test that fails on a template no page uses.
func UnexecutedTemplates() []string {
	var out []string
	names, _ := templatesFS.ReadDir("templates")
	for _, n := range names {
		name := n.Name()
		if name == "layout.html" {
			continue // partials, executed by every page
		}
		if _, ok := executed.Load(name); !ok {
			out = append(out, name)
		}
	}
	return out
}
