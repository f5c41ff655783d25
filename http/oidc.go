package http

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// This file signs staff in through the city's OpenID Connect identity
// provider, when one is configured: the authorisation code flow with
// PKCE, the ID token checked by go-oidc, and the account found by its
// verified e-mail address (AuthService.LoginExternal). The session it
// starts may still owe the second factor, as after a password.

// OIDCConfig is the city's OpenID Connect identity provider, for single
// sign-on beside passwords.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL. Its discovery document is
	// fetched at the first sign-in through it, not at start-up, so that
	// cityops starts while the provider is down.
	Issuer string
	// ClientID and ClientSecret are cityops's registration at the
	// provider.
	ClientID, ClientSecret string
	// RedirectURL is where the provider sends people back; default
	// PublicURL (or the listen URL) + "/login/oidc/callback".
	RedirectURL string
	// Scopes are asked for; default openid, email and profile.
	Scopes []string
	// Name is the provider as the sign-in button names it ("Cổng dịch
	// vụ công Huế"); empty says "the city's sign-in".
	Name string
	// Client makes the requests to the provider; nil uses one with a
	// 15-second timeout.
	Client *http.Client
	// RetryAfter is how long after a failed discovery sign-ins are
	// refused before it is tried again (default 30 s).
	RetryAfter time.Duration
}

// Validate reports a configuration the provider could not work with.
func (c *OIDCConfig) Validate() error {
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: want the provider's issuer URL, https://…", c.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())):
		// Discovery and the signing keys come from the issuer: over
		// plain HTTP anyone on the way could forge sign-ins.
		return fmt.Errorf("%q: the issuer must be https:// (http:// only on the loopback)", c.Issuer)
	case c.ClientID == "" || c.ClientSecret == "":
		return errors.New("the client ID and secret are required")
	}
	if c.RedirectURL != "" {
		if r, err := url.Parse(c.RedirectURL); err != nil || (r.Scheme != "https" && r.Scheme != "http") || r.Host == "" {
			return fmt.Errorf("redirect URL %q: want an absolute http(s) URL", c.RedirectURL)
		}
	}
	return nil
}

func loopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// ssoState is the provider once discovered, shared by all sign-ins.
type ssoState struct {
	mu       sync.Mutex
	provider *oidc.Provider
	style    oauth2.AuthStyle
	failedAt time.Time
}

// errSSOUnavailable is the answer while the provider cannot be reached.
var errSSOUnavailable = cityops.Errorf(cityops.EUNAVAILABLE,
	"the city's sign-in service cannot be reached; try again in a minute, or sign in with your password")

// mfaMethods are the authentication methods (RFC 8176 "amr" values)
// that count as a second factor taken by the provider: several factors,
// a one-time password, proof of a hardware or software key, a code by
// SMS. Without one of them the account's own second factor is asked for
// when it has one or its role needs one.
var mfaMethods = []string{"mfa", "otp", "hwk", "swk", "sms"}

// ssoFlowTTL is how long a sign-in at the provider may take.
const ssoFlowTTL = 10 * time.Minute

// ssoFlow is what the browser keeps between leaving for the provider and
// coming back, in an HttpOnly cookie: the state and nonce (random, and
// compared in constant time), the PKCE verifier (sent nowhere but the
// token endpoint) and the page to return to.
type ssoFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Started  int64  `json:"t"`
}

// ssoCookie names the flow's cookie; over HTTPS with the __Host- prefix,
// so that no other host of the domain can plant one.
func (s *Server) ssoCookie() string {
	if s.SecureCookies {
		return "__Host-cityops_sso"
	}
	return "cityops_sso"
}

// SSOName is the identity provider as the sign-in page names it, or ""
// when single sign-on is off.
func (p *page) SSOName() string {
	switch {
	case p.s.OIDC == nil:
		return ""
	case p.s.OIDC.Name != "":
		return p.s.OIDC.Name
	}
	return p.T("login.sso_default")
}

// ssoContext carries the HTTP client for requests to the provider.
func (s *Server) ssoContext(ctx context.Context) context.Context {
	c := s.OIDC.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	return oidc.ClientContext(ctx, c)
}

// ssoProvider returns the provider, discovering it at the first call and
// again after a failure, no sooner than RetryAfter later.
func (s *Server) ssoProvider(ctx context.Context) (*oidc.Provider, oauth2.AuthStyle, error) {
	st := &s.sso
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.provider != nil {
		return st.provider, st.style, nil
	}
	retry := s.OIDC.RetryAfter
	if retry <= 0 {
		retry = 30 * time.Second
	}
	if !st.failedAt.IsZero() && time.Since(st.failedAt) < retry {
		return nil, 0, errSSOUnavailable
	}
	// A browser giving up does not cut discovery short for the others.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(s.ssoContext(ctx), s.OIDC.Issuer)
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err == nil {
		if err = p.Claims(&meta); err == nil && (p.Endpoint().AuthURL == "" || p.Endpoint().TokenURL == "") {
			err = errors.New("the discovery document names no authorization or token endpoint")
		}
	}
	if err != nil {
		st.failedAt = time.Now()
		s.Log.Error("single sign-on: provider discovery failed", "issuer", s.OIDC.Issuer, "retry_in", retry.String(), "err", err)
		return nil, 0, errSSOUnavailable
	}
	// The client secret goes in the Authorization header unless the
	// provider takes it only in the form (RFC 8414's default is basic).
	st.style = oauth2.AuthStyleInHeader
	if len(meta.AuthMethods) > 0 && !slices.Contains(meta.AuthMethods, "client_secret_basic") && slices.Contains(meta.AuthMethods, "client_secret_post") {
		st.style = oauth2.AuthStyleInParams
	}
	st.provider = p
	s.Log.Info("single sign-on: provider discovered", "issuer", s.OIDC.Issuer)
	return p, st.style, nil
}

// ssoOAuth returns the OAuth 2 client of the provider.
func (s *Server) ssoOAuth(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	p, style, err := s.ssoProvider(ctx)
	if err != nil {
		return nil, nil, err
	}
	redirect := s.OIDC.RedirectURL
	if redirect == "" {
		redirect = s.publicBase() + "/login/oidc/callback"
	}
	scopes := s.OIDC.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	} else if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	ep := p.Endpoint()
	ep.AuthStyle = style
	return &oauth2.Config{ClientID: s.OIDC.ClientID, ClientSecret: s.OIDC.ClientSecret, Endpoint: ep,
		RedirectURL: redirect, Scopes: scopes}, p, nil
}

// handleOIDCStart sends the browser to the provider's sign-in, keeping
// the flow's secrets in a short-lived cookie.
func (s *Server) handleOIDCStart(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.URL.Query().Get("next"))
	conf, _, err := s.ssoOAuth(r.Context())
	if err != nil {
		return s.ssoRefused(w, r, next, err)
	}
	f := ssoFlow{State: auth.NewToken(32), Nonce: auth.NewToken(32), Verifier: oauth2.GenerateVerifier(),
		Next: next, Started: time.Now().Unix()}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: s.ssoCookie(), Value: base64.RawURLEncoding.EncodeToString(b), Path: "/",
		MaxAge: int(ssoFlowTTL / time.Second), HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, conf.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusSeeOther)
	return nil
}

// takeSSOFlow reads the flow's cookie and clears it: each flow serves
// once.
func (s *Server) takeSSOFlow(w http.ResponseWriter, r *http.Request) (*ssoFlow, bool) {
	c, err := r.Cookie(s.ssoCookie())
	if err != nil {
		return nil, false
	}
	http.SetCookie(w, &http.Cookie{Name: s.ssoCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f ssoFlow
	if err != nil || json.Unmarshal(b, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return nil, false
	}
	// (A minute's grace for the clocks of several instances.)
	if age := time.Since(time.Unix(f.Started, 0)); age < -time.Minute || age > ssoFlowTTL {
		return nil, false
	}
	f.Next = safeNext(f.Next)
	return &f, true
}

// handleOIDCCallback is where the provider sends the browser back: the
// state must match the browser's flow, the code is exchanged with the
// PKCE verifier, and the ID token must be the provider's, for cityops,
// current, of this flow (nonce) and carry a verified e-mail address.
// Nothing of the tokens is kept or logged.
func (s *Server) handleOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, ok := s.takeSSOFlow(w, r)
	if !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return s.ssoRefused(w, r, "/staff", cityops.Errorf(cityops.EINVALID,
			"this sign-in was not started in this browser, was already used, or took longer than 10 minutes; start again"))
	}
	if e := q.Get("error"); e != "" {
		return s.ssoRefused(w, r, f.Next, cityops.Errorf(cityops.EUNAUTHORIZED,
			"the city's sign-in service did not sign you in (%s)", oauthCode(e)))
	}
	code := q.Get("code")
	if code == "" {
		return s.ssoRefused(w, r, f.Next, cityops.Errorf(cityops.EINVALID, "the city's sign-in service sent no authorisation code; start again"))
	}
	conf, p, err := s.ssoOAuth(r.Context())
	if err != nil {
		return s.ssoRefused(w, r, f.Next, err)
	}
	ctx := s.ssoContext(r.Context())
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return s.ssoRefused(w, r, f.Next, s.ssoExchangeError(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		s.Log.Warn("single sign-on: the token response holds no ID token")
		return s.ssoRefused(w, r, f.Next, errSSOUnverified)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.OIDC.ClientID}).Verify(ctx, raw)
	if err != nil {
		s.Log.Warn("single sign-on: ID token refused", "err", err)
		return s.ssoRefused(w, r, f.Next, errSSOUnverified)
	}
	var claims struct {
		Email         string    `json:"email"`
		EmailVerified claimBool `json:"email_verified"`
		AMR           []string  `json:"amr"`
		AZP           string    `json:"azp"`
	}
	if err := idt.Claims(&claims); err != nil {
		s.Log.Warn("single sign-on: ID token claims unreadable", "err", err)
		return s.ssoRefused(w, r, f.Next, errSSOUnverified)
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1:
		s.Log.Warn("single sign-on: ID token of another sign-in (nonce)")
		return s.ssoRefused(w, r, f.Next, errSSOUnverified)
	case claims.AZP != "" && claims.AZP != s.OIDC.ClientID:
		s.Log.Warn("single sign-on: ID token issued to another client (azp)")
		return s.ssoRefused(w, r, f.Next, errSSOUnverified)
	case claims.Email == "":
		return s.ssoRefused(w, r, f.Next, cityops.Errorf(cityops.EUNAUTHORIZED,
			"the city's sign-in service gave no e-mail address; ask its administrators to release the email claim to cityops"))
	case !bool(claims.EmailVerified):
		return s.ssoRefused(w, r, f.Next, cityops.Errorf(cityops.EUNAUTHORIZED,
			"the city's sign-in service has not verified the e-mail address %s; verify it there first", claims.Email))
	}
	mfaDone := slices.ContainsFunc(claims.AMR, func(m string) bool { return slices.Contains(mfaMethods, m) })
	token, u, err := s.Auth.LoginExternal(r.Context(), claims.Email, s.ssoProviderName(), mfaDone, r.UserAgent(), remoteIP(r))
	if cityops.ErrorCode(err) == cityops.EUNAUTHORIZED {
		return s.ssoRefused(w, r, f.Next, err)
	}
	if err != nil {
		return err
	}
	return s.signedIn(w, r, token, u, f.Next)
}

// errSSOUnverified refuses an answer of the provider that did not pass
// the ID token's checks; the log says which.
var errSSOUnverified = cityops.Errorf(cityops.EUNAUTHORIZED,
	"the answer of the city's sign-in service could not be verified; start again")

// ssoExchangeError sorts a failed code exchange: the provider refusing
// the code (used, expired, a PKCE verifier that does not match) is a
// refused sign-in; the provider refusing cityops's own credentials, or
// not answering, is an outage to fix here.
func (s *Server) ssoExchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		s.Log.Error("single sign-on: token request failed", "err", err)
		return errSSOUnavailable
	}
	// Only the status and OAuth error code are logged: the body is the
	// provider's.
	status, reason := re.Response.StatusCode, oauthCode(re.ErrorCode)
	if status >= 500 || reason == "invalid_client" || reason == "unauthorized_client" {
		s.Log.Error("single sign-on: token request refused; check the client ID and secret", "status", status, "error", reason)
		return errSSOUnavailable
	}
	s.Log.Warn("single sign-on: code refused by the provider", "status", status, "error", reason)
	return cityops.Errorf(cityops.EUNAUTHORIZED, "the city's sign-in service did not accept this sign-in; start again")
}

// ssoProviderName names the provider in the audit trail and sessions.
func (s *Server) ssoProviderName() string {
	if u, err := url.Parse(s.OIDC.Issuer); err == nil && u.Host != "" {
		return "oidc:" + u.Host
	}
	return "oidc"
}

// ssoRefused answers a sign-in through the provider that did not
// succeed with the sign-in page, its status and why; internal errors go
// to Error.
func (s *Server) ssoRefused(w http.ResponseWriter, r *http.Request, next string, err error) error {
	code := cityops.ErrorCode(err)
	if code == cityops.EINTERNAL {
		return err
	}
	s.Log.Info("single sign-on refused", "remote", remoteIP(r), "reason", code)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ErrorStatus(err))
	s.render(w, r, "login.html", map[string]any{"Next": next, "Email": "", "SSOProblem": cityops.ErrorMessage(err)})
	return nil
}

// oauthCode keeps an OAuth error code ("access_denied") fit for a page
// or a log: letters, digits and underscores, at most 40.
func oauthCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '_' || r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, s)
	return s[:min(len(s), 40)]
}

// claimBool is a boolean claim that some providers send as a string.
type claimBool bool

func (b *claimBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", `"true"`:
		*b = true
	case "false", `"false"`, "null":
		*b = false
	default:
		return fmt.Errorf("want a boolean, got %s", data)
	}
	return nil
}
