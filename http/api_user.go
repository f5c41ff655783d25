package http

import (
	"fmt"
	"net/http"

	"github.com/cityops/cityops"
)

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	a := cityops.ActorFromContext(r.Context())
	if a.User == nil {
		return cityops.Errorf(cityops.ENOTFOUND, "an API key has no user account")
	}
	writeJSON(w, http.StatusOK, a.User)
	return nil
}

func (s *Server) handleUserIndex(w http.ResponseWriter, r *http.Request) error {
	var v cityops.Validation
	f := cityops.UserFilter{
		Role:   queryStr(r, "role"),
		Agency: queryStr(r, "agency"),
		Area:   queryStr(r, "area"),
		Offset: queryInt(r, &v, "offset", 0, 0, 1<<30),
		Limit:  queryInt(r, &v, "limit", 100, 1, 1000),
	}
	if err := v.Err(); err != nil {
		return err
	}
	users, total, err := s.Users.FindUsers(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.User]{Items: users, Total: total, Offset: f.Offset, Limit: f.Limit})
	return nil
}

func (s *Server) handleUserView(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.Users.FindUserByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		Role     string `json:"role"`
		Agency   string `json:"agency"`
		Area     string `json:"area"`
		Language string `json:"language"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u := &cityops.User{Email: req.Email, Name: req.Name, Role: req.Role, AgencyCode: req.Agency, AreaCode: req.Area, Language: req.Language}
	if err := s.Users.CreateUser(r.Context(), u, req.Password); err != nil {
		return err
	}
	created(w, fmt.Sprintf("/api/v1/users/%d", u.ID), u)
	return nil
}

func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Name     *string `json:"name"`
		Role     *string `json:"role"`
		Agency   *string `json:"agency"`
		Area     *string `json:"area"`
		Language *string `json:"language"`
		Disabled *bool   `json:"disabled"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.Users.UpdateUser(r.Context(), id, cityops.UserUpdate{Name: req.Name, Role: req.Role, AgencyCode: req.Agency,
		AreaCode: req.Area, Language: req.Language, Disabled: req.Disabled})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUserPassword(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.Users.SetPassword(r.Context(), id, req.Password); err != nil {
		return err
	}
	if u, err := s.Users.FindUserByID(r.Context(), id); err == nil {
		s.notifyAccountChange(u.Email, "password_admin")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAPIKeyIndex(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.Auth.FindAPIKeys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list[*cityops.APIKey]{Items: keys, Total: len(keys)})
	return nil
}

// handleAPIKeyCreate returns the new key's secret once; it cannot be shown
// again.
func (s *Server) handleAPIKeyCreate(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
		Agency string   `json:"agency"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	k := &cityops.APIKey{Name: req.Name, Scopes: req.Scopes, Agency: req.Agency}
	secret, err := s.Auth.CreateAPIKey(r.Context(), k)
	if err != nil {
		return err
	}
	created(w, fmt.Sprintf("/api/v1/apikeys/%d", k.ID), struct {
		*cityops.APIKey
		Key string `json:"key"`
	}{k, secret})
	return nil
}

func (s *Server) handleAPIKeyRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.Auth.RevokeAPIKey(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
