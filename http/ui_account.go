package http

import (
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cityops/cityops"
	qrcode "github.com/skip2/go-qrcode"
)

// This file holds the pages of signing in beyond the password — the
// second factor, setting it up, forgotten passwords — and the account
// page where staff manage their own password, second factor and sessions.

// qrDataURI draws s as a QR code in a PNG data: URI (the CSP allows data:
// images, and nothing leaves the server).
func qrDataURI(s string) (template.URL, error) {
	png, err := qrcode.Encode(s, qrcode.Medium, 256)
	if err != nil {
		return "", err
	}
	// A data: URI of our own PNG bytes: safe, though html/template
	// cannot know that.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// sessionToken returns the browser's session token.
func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// pendingActor returns the actor of a sign-in awaiting its second step,
// or nil.
func pendingActor(r *http.Request) *cityops.Actor {
	if a := cityops.ActorFromContext(r.Context()); a != nil && a.User != nil && a.Pending != "" {
		return a
	}
	return nil
}

// handleVerifyPage is the second step of signing in: a code from the
// authenticator app (or a recovery code), or setting the app up when the
// role requires it and the account has none yet.
func (s *Server) handleVerifyPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderVerify(w, r, safeNext(r.URL.Query().Get("next")), nil)
}

func (s *Server) renderVerify(w http.ResponseWriter, r *http.Request, next string, problem error) error {
	a := pendingActor(r)
	if a == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	data := map[string]any{"Next": next, "Stage": a.Pending}
	if problem != nil {
		if d := cityops.ErrorRetryAfter(problem); d > 0 {
			w.Header().Set("Retry-After", strconvSeconds(d))
		}
		w.WriteHeader(ErrorStatus(problem))
		data["Problem"] = cityops.ErrorMessage(problem)
		if f := cityops.ErrorFields(problem); f["code"] != "" {
			data["Problem"] = f["code"]
		}
	}
	if a.Pending == cityops.SessionEnrol {
		setup, err := s.Auth.BeginMFA(r.Context())
		if err != nil {
			return err
		}
		qr, err := qrDataURI(setup.URI)
		if err != nil {
			return err
		}
		data["Secret"], data["QR"] = groupSecret(setup.Secret), qr
	}
	s.render(w, r, "verify.html", data)
	return nil
}

// groupSecret writes a base32 secret in groups of four for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	next, code := safeNext(r.PostForm.Get("next")), r.PostForm.Get("code")
	a := pendingActor(r)
	if a == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
		return nil
	}
	switch a.Pending {
	case cityops.SessionMFA:
		token, err := s.Auth.CompleteMFA(r.Context(), sessionToken(r), code)
		if c := cityops.ErrorCode(err); c == cityops.EUNAUTHORIZED || c == cityops.ETOOMANY {
			return s.renderVerify(w, r, next, err)
		}
		if err != nil {
			return err
		}
		s.setSession(w, token)
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	default:
		token, codes, err := s.Auth.ConfirmMFA(r.Context(), sessionToken(r), code)
		if cityops.ErrorCode(err) == cityops.EINVALID {
			return s.renderVerify(w, r, next, err)
		}
		if err != nil {
			return err
		}
		if token != "" {
			s.setSession(w, token)
		}
		s.notifyAccountChange(a.User.Email, "mfa_on")
		s.render(w, r, "codes.html", map[string]any{"Codes": codes, "Next": next})
		return nil
	}
}

// handleAccount is a staff member's own account: password, second factor,
// sessions.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccount(w, r, nil, "")
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, problem error, done string) error {
	a := cityops.ActorFromContext(r.Context())
	if a == nil || a.User == nil {
		return cityops.Errorf(cityops.EFORBIDDEN, "this page is for staff signed in with a password")
	}
	sessions, err := s.Auth.FindSessions(r.Context())
	if err != nil {
		return err
	}
	u, err := s.Users.FindUserByID(r.Context(), a.User.ID)
	if err != nil {
		return err
	}
	data := map[string]any{"User": u, "Sessions": sessions, "Done": done, "Problems": map[string]string{}}
	if problem != nil {
		w.WriteHeader(ErrorStatus(problem))
		data["Problem"] = cityops.ErrorMessage(problem)
		data["Problems"] = cityops.ErrorFields(problem)
	}
	s.render(w, r, "account.html", data)
	return nil
}

// formProblem lets a form page show a refusal of the user's input beside
// the form; other errors go to Server.Error.
func formProblem(err error) bool {
	switch cityops.ErrorCode(err) {
	case cityops.EINVALID, cityops.ETOOMANY, cityops.ECONFLICT, cityops.EFORBIDDEN:
		return true
	}
	return false
}

func (s *Server) handleAccountPassword(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	if r.PostForm.Get("password") != r.PostForm.Get("password2") {
		var v cityops.Validation
		v.Add("password2", "does not match the new password")
		return s.renderAccount(w, r, v.Err(), "")
	}
	err := s.Auth.ChangePassword(r.Context(), r.PostForm.Get("current_password"), r.PostForm.Get("password"))
	if formProblem(err) {
		return s.renderAccount(w, r, err, "")
	}
	if err != nil {
		return err
	}
	s.notifyAccountChange(cityops.ActorFromContext(r.Context()).User.Email, "password")
	return s.renderAccount(w, r, nil, "password")
}

// handleAccountMFAPage sets up the authenticator app for staff who choose
// to (or must, once their role is changed).
func (s *Server) handleAccountMFAPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderAccountMFA(w, r, nil)
}

func (s *Server) renderAccountMFA(w http.ResponseWriter, r *http.Request, problem error) error {
	setup, err := s.Auth.BeginMFA(r.Context())
	if cityops.ErrorCode(err) == cityops.ECONFLICT {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	qr, err := qrDataURI(setup.URI)
	if err != nil {
		return err
	}
	data := map[string]any{"Secret": groupSecret(setup.Secret), "QR": qr, "Stage": cityops.SessionEnrol, "Action": "/account/mfa"}
	if problem != nil {
		w.WriteHeader(ErrorStatus(problem))
		data["Problem"] = cityops.ErrorFields(problem)["code"]
	}
	s.render(w, r, "verify.html", data)
	return nil
}

func (s *Server) handleAccountMFA(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	_, codes, err := s.Auth.ConfirmMFA(r.Context(), sessionToken(r), r.PostForm.Get("code"))
	if cityops.ErrorCode(err) == cityops.EINVALID {
		return s.renderAccountMFA(w, r, err)
	}
	if err != nil {
		return err
	}
	s.notifyAccountChange(cityops.ActorFromContext(r.Context()).User.Email, "mfa_on")
	s.render(w, r, "codes.html", map[string]any{"Codes": codes, "Next": "/account"})
	return nil
}

func (s *Server) handleAccountMFAOff(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	err := s.Auth.DisableMFA(r.Context(), r.PostForm.Get("current_password"))
	if formProblem(err) {
		return s.renderAccount(w, r, err, "")
	}
	if err != nil {
		return err
	}
	s.notifyAccountChange(cityops.ActorFromContext(r.Context()).User.Email, "mfa_off")
	return s.renderAccount(w, r, nil, "mfa_off")
}

func (s *Server) handleAccountCodes(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	codes, err := s.Auth.NewRecoveryCodes(r.Context(), r.PostForm.Get("current_password"))
	if formProblem(err) {
		return s.renderAccount(w, r, err, "")
	}
	if err != nil {
		return err
	}
	s.notifyAccountChange(cityops.ActorFromContext(r.Context()).User.Email, "codes")
	s.render(w, r, "codes.html", map[string]any{"Codes": codes, "Next": "/account"})
	return nil
}

// handleAccountSignOutAll ends every session of the user, this one too.
func (s *Server) handleAccountSignOutAll(w http.ResponseWriter, r *http.Request) error {
	a := cityops.ActorFromContext(r.Context())
	if err := s.Auth.LogoutAll(r.Context(), a.User.ID); err != nil {
		return err
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// handleForgotPage asks for the e-mail address to send a reset link to.
func (s *Server) handleForgotPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "forgot.html", map[string]any{"Available": s.SendMail != nil})
	return nil
}

// handleForgot sends a reset link when the address belongs to an active
// account. The answer, and how long it takes, are the same either way:
// the mail is sent in the background.
func (s *Server) handleForgot(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	if s.SendMail == nil {
		return cityops.Errorf(cityops.ECONFLICT, "reset links cannot be e-mailed here; ask an administrator to set a new password")
	}
	if err := s.sendResetLink(r, r.PostForm.Get("email")); err != nil {
		return err
	}
	s.render(w, r, "forgot.html", map[string]any{"Available": true, "Sent": true})
	return nil
}

// sendResetLink makes a reset token for email's account, if there is one,
// and mails the link in the background.
func (s *Server) sendResetLink(r *http.Request, email string) error {
	token, u, err := s.Auth.RequestPasswordReset(r.Context(), email)
	if err != nil || token == "" {
		return err
	}
	link := s.publicBase() + "/login/reset?token=" + url.QueryEscape(token)
	var body strings.Builder
	for _, lang := range []string{"vi", "en"} {
		body.WriteString(s.Catalog.T(lang, "reset.mail_body", link, s.Catalog.T(lang, "reset.valid_minutes")) + "\r\n\r\n")
	}
	subject := s.Catalog.T("vi", "reset.mail_subject")
	go func() {
		if err := s.SendMail(u.Email, subject, body.String()); err != nil {
			s.Log.Error("password reset mail", "user", u.ID, "err", err)
		}
	}()
	return nil
}

// publicBase is the URL people reach cityops at, for links that leave the
// request: PublicURL, else the listen URL — never the request's Host
// header, which whoever asks for a reset link chooses, and would then
// receive the token at their own site.
func (s *Server) publicBase() string {
	if base := strings.TrimSuffix(s.PublicURL, "/"); base != "" {
		return base
	}
	return s.URL()
}

// handleResetPage asks for a new password for a reset link.
func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "reset.html", map[string]any{"Token": r.URL.Query().Get("token"), "Problems": map[string]string{}})
	return nil
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return cityops.Errorf(cityops.EINVALID, "the form could not be read")
	}
	token := r.PostForm.Get("token")
	var err error
	if r.PostForm.Get("password") != r.PostForm.Get("password2") {
		var v cityops.Validation
		v.Add("password2", "does not match the new password")
		err = v.Err()
	} else {
		err = s.Auth.ResetPassword(r.Context(), token, r.PostForm.Get("password"))
	}
	if cityops.ErrorCode(err) == cityops.EINVALID {
		w.WriteHeader(ErrorStatus(err))
		s.render(w, r, "reset.html", map[string]any{"Token": token, "Problem": cityops.ErrorMessage(err), "Problems": cityops.ErrorFields(err),
			"Expired": cityops.ErrorFields(err)["token"] != ""})
		return nil
	}
	if err != nil {
		return err
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login?reset=1", http.StatusSeeOther)
	return nil
}

// handleUserResetLink lets an administrator e-mail someone a reset link.
func (s *Server) handleUserResetLink(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	if s.SendMail == nil {
		return cityops.Errorf(cityops.ECONFLICT, "no mail server is configured (-smtp): set a password for the user instead")
	}
	if err := s.sendResetLink(r, u.Email); err != nil {
		return err
	}
	http.Redirect(w, r, "/staff/users?done=reset", http.StatusSeeOther)
	return nil
}

// handleUserMFAReset turns off a user's second factor (a lost phone);
// they set it up again at their next sign-in.
func (s *Server) handleUserMFAReset(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userFromPath(r)
	if err != nil {
		return err
	}
	if err := s.Auth.ResetMFA(r.Context(), u.ID); err != nil {
		return err
	}
	s.notifyAccountChange(u.Email, "mfa_reset")
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, "/staff/users?done=mfa_reset", http.StatusSeeOther)
	return nil
}

func (s *Server) userFromPath(r *http.Request) (*cityops.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return s.Users.FindUserByID(r.Context(), id)
}

// notifyAccountChange tells a person by e-mail that a way of signing in to
// their account changed, so that a change they did not make is noticed
// (the mail names what changed, never a secret). Sent in the background;
// nothing without a mail server.
func (s *Server) notifyAccountChange(email, what string) {
	if s.SendMail == nil || email == "" {
		return
	}
	var body strings.Builder
	for _, lang := range []string{"vi", "en"} {
		body.WriteString(s.Catalog.T(lang, "accountmail.body", s.Catalog.T(lang, "accountmail."+what), time.Now().In(hueZone).Format("02/01/2006 15:04")) + "\r\n\r\n")
	}
	subject := s.Catalog.T("vi", "accountmail.subject")
	go func() {
		if err := s.SendMail(email, subject, body.String()); err != nil {
			s.Log.Error("account change mail", "err", err)
		}
	}()
}

func strconvSeconds(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
