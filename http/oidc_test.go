package http_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// testIdP stands for the city's identity provider (outside this machine
// in production) on a loopback port: discovery and keys (oidctest), an
// authorisation endpoint that signs in at once and sends the browser
// back with a code, and a token endpoint that checks the client's secret
// and the PKCE verifier and signs an RS256 ID token.
type testIdP struct {
	t        *testing.T
	srv      *httptest.Server
	key      *rsa.PrivateKey
	clientID string
	secret   atomic.Pointer[string]
	// down answers every request 503, as a provider out of service.
	down atomic.Bool

	mu     sync.Mutex
	grants map[string]idpGrant // by code
	// issue is what the next sign-in gets; see idpIssue.
	issue  idpIssue
	tokens []string // every access and ID token given out
}

// idpIssue shapes the next sign-in at the provider.
type idpIssue struct {
	email string
	// claims replace or add claims of the ID token; a nil value removes
	// one.
	claims map[string]any
	// key, when set, signs instead of the provider's published key.
	key *rsa.PrivateKey
	// deny sends the browser back with error=access_denied.
	deny bool
	// badChallenge remembers another PKCE challenge than the one sent.
	badChallenge bool
}

type idpGrant struct {
	nonce, challenge, redirect string
	issue                      idpIssue
}

const idpKeyID = "k1"

func newTestIdP(t *testing.T, clientID, secret string) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{t: t, key: key, clientID: clientID, grants: map[string]idpGrant{}}
	idp.secret.Store(&secret)
	keys := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: idpKeyID, Algorithm: oidc.RS256}}}
	mux := http.NewServeMux()
	mux.Handle("/", keys)
	mux.HandleFunc("GET /auth", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(idp.srv.Close)
	keys.SetIssuer(idp.srv.URL)
	return idp
}

func (idp *testIdP) set(is idpIssue) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.issue = is
}

func (idp *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != idp.clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		http.Error(w, "bad authorisation request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || back.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	idp.mu.Lock()
	is := idp.issue
	code := rand.Text()
	g := idpGrant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), issue: is}
	if is.badChallenge {
		g.challenge = "not-the-challenge"
	}
	idp.grants[code] = g
	idp.mu.Unlock()
	v := url.Values{"state": {q.Get("state")}}
	if is.deny {
		v.Set("error", "access_denied")
	} else {
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusSeeOther)
}

func (idp *testIdP) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	id, secret, ok := r.BasicAuth()
	if !ok || url.QueryEscape(idp.clientID) != id || url.QueryEscape(*idp.secret.Load()) != secret {
		fail(http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		fail(http.StatusBadRequest, "invalid_request")
		return
	}
	idp.mu.Lock()
	g, ok := idp.grants[r.PostForm.Get("code")]
	delete(idp.grants, r.PostForm.Get("code"))
	idp.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || g.redirect != r.PostForm.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		fail(http.StatusBadRequest, "invalid_grant")
		return
	}
	now := time.Now()
	claims := map[string]any{"iss": idp.srv.URL, "sub": "vneid-" + g.issue.email, "aud": idp.clientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce,
		"email": g.issue.email, "email_verified": true, "amr": []string{"pwd"}}
	for k, v := range g.issue.claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	b, _ := json.Marshal(claims)
	key := idp.key
	if g.issue.key != nil {
		key = g.issue.key
	}
	idToken := oidctest.SignIDToken(key, idpKeyID, oidc.RS256, string(b))
	access := "at-" + rand.Text()
	idp.mu.Lock()
	idp.tokens = append(idp.tokens, access, idToken)
	idp.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken})
}

// fetch gets an absolute URL with the browser's cookies.
func (b *browserish) fetch(u string) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

// ssoStart asks cityops to sign in through the provider and follows the
// provider's answer; it returns cityops's answer at the callback, or its
// refusal to start.
func ssoStart(t *testing.T, b *browserish, idp *testIdP, next string) (callback string, res *http.Response, body string) {
	t.Helper()
	res, body = b.get("/login/oidc?next=" + url.QueryEscape(next))
	if res.StatusCode != http.StatusSeeOther {
		return "", res, body
	}
	to := res.Header.Get("Location")
	if !strings.HasPrefix(to, idp.srv.URL+"/auth?") {
		t.Fatalf("sent to %s, not the provider", to)
	}
	res, body = b.fetch(to)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("provider: %d %s", res.StatusCode, body)
	}
	return res.Header.Get("Location"), nil, ""
}

// ssoSignIn signs in through the provider and returns cityops's answer.
func ssoSignIn(t *testing.T, b *browserish, idp *testIdP, next string) (*http.Response, string) {
	t.Helper()
	callback, res, body := ssoStart(t, b, idp, next)
	if callback == "" {
		return res, body
	}
	return b.fetch(callback)
}

func TestOIDCSignIn(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		const clientID, secret = "cityops-hue", "bí mật của cityops"
		idp := newTestIdP(t, clientID, secret)
		ts := newTestServer(t, db, func(c *cityhttp.Config) {
			c.OIDC = &cityhttp.OIDCConfig{Issuer: idp.srv.URL, ClientID: clientID, ClientSecret: secret,
				Name: "Cổng dịch vụ công Huế", Client: idp.srv.Client()}
		})
		db.SignIn.MFARoles = []string{cityops.RoleOperator}
		gone := &cityops.User{Email: "cu@hue.gov.vn", Role: cityops.RoleSteering}
		for _, u := range []*cityops.User{{Email: "lan@hue.gov.vn", Role: cityops.RoleSteering}, {Email: "hoa@hue.gov.vn", Role: cityops.RoleOperator}, gone} {
			if err := db.CreateUser(sysCtx(), u, "a long enough password"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.UpdateUser(sysCtx(), gone.ID, cityops.UserUpdate{Disabled: new(true)}); err != nil {
			t.Fatal(err)
		}

		// The sign-in page offers the provider, in both languages.
		for lang, want := range map[string]string{"vi": "Đăng nhập bằng Cổng dịch vụ công Huế", "en": "Sign in with Cổng dịch vụ công Huế"} {
			res, page := newBrowserish(t, ts.url).get("/login?next=/ioc&lang=" + lang)
			if res.StatusCode != 200 || !strings.Contains(page, `href="/login/oidc?next=%2fioc"`) || !strings.Contains(page, want) {
				t.Errorf("sign-in page in %s has no button %q:\n%s", lang, want, page)
			}
		}

		// The way out: state, nonce and the PKCE challenge go to the
		// provider; the verifier stays in an HttpOnly cookie.
		b := newBrowserish(t, ts.url)
		res, _ := b.get("/login/oidc?next=/ioc")
		auth, _ := url.Parse(res.Header.Get("Location"))
		cookie := res.Header.Get("Set-Cookie")
		for _, want := range []string{"cityops_sso=", "Path=/", "Max-Age=600", "HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(cookie, want) {
				t.Errorf("flow cookie %q lacks %s", cookie, want)
			}
		}
		q := auth.Query()
		if res.StatusCode != 303 || q.Get("redirect_uri") != ts.url+"/login/oidc/callback" || q.Get("code_challenge_method") != "S256" ||
			q.Get("scope") != "openid email profile" || q.Get("code_verifier") != "" {
			t.Errorf("to the provider: %d %s", res.StatusCode, auth)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "cityops_sso="))
		var flow struct{ V string }
		if json.Unmarshal(raw, &flow); flow.V == "" || strings.Contains(auth.String(), flow.V) {
			t.Errorf("PKCE verifier %q missing from the cookie or sent to the provider", flow.V)
		}

		for _, tt := range []struct {
			name     string
			issue    idpIssue
			status   int
			location string // of a 303
			want     string // in the page of a refusal
			staff    int    // GET /staff afterwards
		}{
			{"active account", idpIssue{email: "Lan@Hue.gov.vn"}, 303, "/ioc", "", 200},
			{"role needs MFA, none at the provider", idpIssue{email: "hoa@hue.gov.vn"}, 303, "/login/verify?next=%2Fioc", "", 303},
			{"role needs MFA, done at the provider", idpIssue{email: "hoa@hue.gov.vn", claims: map[string]any{"amr": []string{"pwd", "mfa"}}}, 303, "/ioc", "", 200},
			{"email_verified as a string", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"email_verified": "true"}}, 303, "/ioc", "", 200},
			{"unknown e-mail", idpIssue{email: "nobody@hue.gov.vn"}, 401, "", "no active cityops account has the e-mail address nobody@hue.gov.vn", 303},
			{"disabled account", idpIssue{email: gone.Email}, 401, "", "no active cityops account", 303},
			{"e-mail not verified", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"email_verified": false}}, 401, "", "has not verified the e-mail address lan@hue.gov.vn", 303},
			{"no e-mail", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"email": nil}}, 401, "", "gave no e-mail address", 303},
			{"another audience", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"aud": "another-app"}}, 401, "", "could not be verified", 303},
			{"another client (azp)", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"aud": []string{clientID, "x"}, "azp": "x"}}, 401, "", "could not be verified", 303},
			{"wrong nonce", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"nonce": "replayed"}}, 401, "", "could not be verified", 303},
			{"no nonce", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"nonce": nil}}, 401, "", "could not be verified", 303},
			{"expired", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}}, 401, "", "could not be verified", 303},
			{"another issuer", idpIssue{email: "lan@hue.gov.vn", claims: map[string]any{"iss": "https://idp.example.vn"}}, 401, "", "could not be verified", 303},
			{"signed with another key", idpIssue{email: "lan@hue.gov.vn", key: otherKey(t)}, 401, "", "could not be verified", 303},
			{"PKCE verifier does not match", idpIssue{email: "lan@hue.gov.vn", badChallenge: true}, 401, "", "did not accept this sign-in", 303},
			{"refused at the provider", idpIssue{email: "lan@hue.gov.vn", deny: true}, 401, "", "did not sign you in (access_denied)", 303},
		} {
			t.Run(tt.name, func(t *testing.T) {
				idp.set(tt.issue)
				b := newBrowserish(t, ts.url)
				res, page := ssoSignIn(t, b, idp, "/ioc")
				if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location || !strings.Contains(page, tt.want) {
					t.Fatalf("got %d %q\n%s\nwant %d %q with %q", res.StatusCode, res.Header.Get("Location"), page, tt.status, tt.location, tt.want)
				}
				if res.StatusCode == 401 && !strings.Contains(page, "Đăng nhập bằng Cổng dịch vụ công Huế không thành công") {
					t.Errorf("refusal page without its heading:\n%s", page)
				}
				if res, _ := b.get("/staff"); res.StatusCode != tt.staff {
					t.Errorf("GET /staff afterwards: %d, want %d", res.StatusCode, tt.staff)
				}
			})
		}

		// A sign-in ends the browser's earlier session.
		idp.set(idpIssue{email: "lan@hue.gov.vn"})
		b = newBrowserish(t, ts.url)
		ssoSignIn(t, b, idp, "/staff")
		before := sessionOf(t, b, ts.url)
		ssoSignIn(t, b, idp, "/staff")
		if after := sessionOf(t, b, ts.url); after == before || after == "" {
			t.Error("the session token did not change")
		}
		if _, err := db.ActorBySession(sysCtx(), before); cityops.ErrorCode(err) != cityops.EUNAUTHORIZED {
			t.Errorf("the earlier session still works: %v", err)
		}

		// The state must be the browser's own, and serves once.
		b = newBrowserish(t, ts.url)
		callback, _, _ := ssoStart(t, b, idp, "/ioc")
		u, _ := url.Parse(callback)
		forged := u.Query()
		forged.Set("state", "forged")
		u.RawQuery = forged.Encode()
		if res, page := b.fetch(u.String()); res.StatusCode != 400 || !strings.Contains(page, "start again") {
			t.Errorf("wrong state: %d\n%s", res.StatusCode, page)
		}
		if res, _ := b.fetch(callback); res.StatusCode != 400 {
			t.Errorf("the right state after a wrong one: %d, want 400 (the flow is spent)", res.StatusCode)
		}
		callback, _, _ = ssoStart(t, b, idp, "/ioc")
		if res, _ := newBrowserish(t, ts.url).fetch(callback); res.StatusCode != 400 {
			t.Errorf("callback in another browser: %d", res.StatusCode)
		}
		if res, _ := b.fetch(callback); res.StatusCode != 303 {
			t.Errorf("callback: %d", res.StatusCode)
		}
		if res, _ := b.fetch(callback); res.StatusCode != 400 {
			t.Errorf("callback replayed: %d", res.StatusCode)
		}

		// cityops's own credentials refused: an outage, not the user's fault.
		wrong := "another secret"
		idp.secret.Store(&wrong)
		if res, page := ssoSignIn(t, newBrowserish(t, ts.url), idp, "/ioc"); res.StatusCode != 503 || !strings.Contains(page, "cannot be reached") {
			t.Errorf("wrong client secret: %d\n%s", res.StatusCode, page)
		}
		right := secret
		idp.secret.Store(&right)

		// The trail tells of the account that does not exist; it, the
		// sessions and the pages hold none of the provider's tokens.
		action := "auth.login_failed"
		list, _, err := db.FindAudit(sysCtx(), cityops.AuditFilter{Action: &action})
		if err != nil {
			t.Fatal(err)
		}
		provider := "oidc:" + strings.TrimPrefix(idp.srv.URL, "http://")
		found := false
		for _, e := range list {
			found = found || (e.Object == "user:nobody@hue.gov.vn" && e.Detail == provider+": no account" && e.Outcome == cityops.AuditFailed)
		}
		if !found {
			t.Errorf("no audit entry of the unknown account among %d", len(list))
		}
		all, _, err := db.FindAudit(sysCtx(), cityops.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		trail, _ := json.Marshal(all)
		idp.mu.Lock()
		tokens := idp.tokens
		idp.mu.Unlock()
		if len(tokens) < 10 {
			t.Fatalf("only %d tokens given out", len(tokens))
		}
		for _, tok := range tokens {
			if strings.Contains(string(trail), tok) || strings.Contains(string(trail), tok[len(tok)-20:]) {
				t.Fatal("a token of the provider is in the audit trail")
			}
		}
	})
}

// TestOIDCProviderDown starts cityops while the provider is down: sign-in
// through it answers 503 until the provider is back.
func TestOIDCProviderDown(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		idp := newTestIdP(t, "cityops", "s3cret")
		idp.down.Store(true)
		ts := newTestServer(t, db, func(c *cityhttp.Config) {
			c.OIDC = &cityhttp.OIDCConfig{Issuer: idp.srv.URL, ClientID: "cityops", ClientSecret: "s3cret", Client: idp.srv.Client(),
				RetryAfter: 50 * time.Millisecond}
		})
		if err := db.CreateUser(sysCtx(), &cityops.User{Email: "lan@hue.gov.vn", Role: cityops.RoleSteering}, "a long enough password"); err != nil {
			t.Fatal(err)
		}
		idp.set(idpIssue{email: "lan@hue.gov.vn"})
		b := newBrowserish(t, ts.url)
		res, page := b.get("/login/oidc?next=/ioc")
		if res.StatusCode != 503 || !strings.Contains(page, "the city&#39;s sign-in service cannot be reached") ||
			!strings.Contains(page, `action="/login"`) {
			t.Fatalf("provider down: %d\n%s", res.StatusCode, page)
		}
		// The default name, in the page's language.
		if res, page := b.get("/login?lang=en"); res.StatusCode != 200 || !strings.Contains(page, "Sign in with the city&#39;s sign-in") {
			t.Errorf("sign-in page: %d\n%s", res.StatusCode, page)
		}
		idp.down.Store(false)
		time.Sleep(60 * time.Millisecond)
		if res, page := ssoSignIn(t, b, idp, "/ioc"); res.StatusCode != 303 || res.Header.Get("Location") != "/ioc" {
			t.Fatalf("provider back: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), page)
		}
		if res, _ := b.get("/staff"); res.StatusCode != 200 {
			t.Errorf("GET /staff: %d", res.StatusCode)
		}
	})
}

// TestOIDCOff checks that without a provider the sign-in page offers
// none and its paths do not exist.
func TestOIDCOff(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		b := newBrowserish(t, ts.url)
		if _, page := b.get("/login"); strings.Contains(page, "/login/oidc") {
			t.Error("the sign-in page offers single sign-on that is not configured")
		}
		for _, path := range []string{"/login/oidc", "/login/oidc/callback?code=x&state=y"} {
			if res, _ := b.get(path); res.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
			}
		}
	})
}

func otherKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sessionOf returns the browser's session token.
func sessionOf(t *testing.T, b *browserish, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "cityops_session" {
			return c.Value
		}
	}
	return ""
}
