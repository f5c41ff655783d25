package http

import (
	"net/http"
	"strconv"

	"github.com/cityops/cityops"
)

// routingPage lists the routing rules with a form to add one.
type routingPage struct {
	Rules      []*cityops.RoutingRule
	Categories []*cityops.Category
	Sectors    []*cityops.Sector
	Areas      []*cityops.Area
	Agencies   []*cityops.Agency
	Names      map[string]string
	Errors     map[string]string
	Message    string
	Done       string
	In         cityops.RoutingRule
}

func (s *Server) routingPage(r *http.Request) (*routingPage, error) {
	ctx := r.Context()
	p := &routingPage{}
	var err error
	if p.Rules, err = s.Routing.FindRoutingRules(ctx); err != nil {
		return nil, err
	}
	if p.Categories, err = s.Categories.FindCategories(ctx, cityops.CategoryFilter{}); err != nil {
		return nil, err
	}
	if p.Sectors, err = s.Sectors.FindSectors(ctx); err != nil {
		return nil, err
	}
	if p.Areas, _, err = s.Areas.FindAreas(ctx, cityops.AreaFilter{}); err != nil {
		return nil, err
	}
	active := true
	if p.Agencies, _, err = s.Agencies.FindAgencies(ctx, cityops.AgencyFilter{Active: &active}); err != nil {
		return nil, err
	}
	if p.Names, err = s.displayNames(r); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) handleRoutingPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.routingPage(r)
	if err != nil {
		return err
	}
	p.Done = r.URL.Query().Get("done")
	s.render(w, r, "routing.html", p)
	return nil
}

// handleRoutingAdd adds a rule from the page's form.
func (s *Server) handleRoutingAdd(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	f := r.PostForm
	rule := cityops.RoutingRule{Category: f.Get("category"), Sector: f.Get("sector"), Area: f.Get("area"), Note: f.Get("note")}
	if a := f.Get("agency"); a == "local" {
		rule.LocalAgency = true
	} else {
		rule.Agency = a
	}
	err := s.Routing.CreateRoutingRule(r.Context(), &rule)
	if code := cityops.ErrorCode(err); code == cityops.EINVALID {
		p, perr := s.routingPage(r)
		if perr != nil {
			return perr
		}
		p.Errors, p.Message, p.In = cityops.ErrorFields(err), cityops.ErrorMessage(err), rule
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, "routing.html", p)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/staff/routing?done=added", http.StatusSeeOther)
	return nil
}

func (s *Server) handleRoutingDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return cityops.Errorf(cityops.ENOTFOUND, "no such rule")
	}
	if err := s.Routing.DeleteRoutingRule(r.Context(), id); err != nil {
		return err
	}
	http.Redirect(w, r, "/staff/routing?done=deleted", http.StatusSeeOther)
	return nil
}

// userForm is the administrator's form for a new staff account.
type userForm struct {
	In       cityops.User
	Roles    []string
	Agencies []*cityops.Agency
	Areas    []*cityops.Area
	Errors   map[string]string
	Message  string
}

func (s *Server) userForm(r *http.Request, in cityops.User) (*userForm, error) {
	active := true
	agencies, _, err := s.Agencies.FindAgencies(r.Context(), cityops.AgencyFilter{Active: &active})
	if err != nil {
		return nil, err
	}
	areas, _, err := s.Areas.FindAreas(r.Context(), cityops.AreaFilter{})
	if err != nil {
		return nil, err
	}
	return &userForm{In: in, Roles: cityops.Roles, Agencies: agencies, Areas: areas}, nil
}

func (s *Server) handleUserNew(w http.ResponseWriter, r *http.Request) error {
	p, err := s.userForm(r, cityops.User{Role: cityops.RoleAgencyOfficer})
	if err != nil {
		return err
	}
	s.render(w, r, "user_new.html", p)
	return nil
}

// handleUserAdd creates a staff account from the form; the administrator
// gives the first password, which the user changes.
func (s *Server) handleUserAdd(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	f := r.PostForm
	u := cityops.User{Email: f.Get("email"), Name: f.Get("name"), Role: f.Get("role"), AgencyCode: f.Get("agency"), AreaCode: f.Get("area")}
	err := s.Users.CreateUser(r.Context(), &u, f.Get("password"))
	if code := cityops.ErrorCode(err); code == cityops.EINVALID || code == cityops.ECONFLICT {
		p, perr := s.userForm(r, u)
		if perr != nil {
			return perr
		}
		p.Errors, p.Message = cityops.ErrorFields(err), cityops.ErrorMessage(err)
		w.WriteHeader(ErrorStatus(err))
		s.render(w, r, "user_new.html", p)
		return nil
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/staff/users?done=created", http.StatusSeeOther)
	return nil
}
