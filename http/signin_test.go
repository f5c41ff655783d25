package http_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/auth"
	cityhttp "github.com/cityops/cityops/http"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// mailbox keeps what the server e-mails (the one fake: mail leaves the
// machine in production).
type mailbox struct {
	mu   sync.Mutex
	sent map[string][]string // to → bodies
}

func (m *mailbox) send(to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[to] = append(m.sent[to], body)
	return nil
}

// wait returns the first mail to the address that holds text.
func (m *mailbox) wait(t *testing.T, to, text string) string {
	t.Helper()
	for range 100 {
		m.mu.Lock()
		for _, b := range m.sent[to] {
			if strings.Contains(b, text) {
				m.mu.Unlock()
				return b
			}
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with %q: %q", to, text, m.sent[to])
	return ""
}

// browserish is a client with cookies that does not follow redirects.
type browserish struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserish(t *testing.T, base string) *browserish {
	jar, _ := cookiejar.New(nil)
	return &browserish{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browserish) get(path string) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

func (b *browserish) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(body)
}

var secretRE = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)

func TestSignInPages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		mail := &mailbox{sent: map[string][]string{}}
		ts := newTestServer(t, db, func(c *cityhttp.Config) { c.SendMail = mail.send })
		db.SignIn.MFARoles = []string{cityops.RoleOperator}
		const pw = "đò ngang qua sông Hương"
		op := &cityops.User{Email: "hoa@hue.gov.vn", Name: "Hoa", Role: cityops.RoleOperator}
		if err := db.CreateUser(sysCtx(), op, pw); err != nil {
			t.Fatal(err)
		}

		// Password, then the set-up of the authenticator, then the codes.
		b := newBrowserish(t, ts.url)
		res, _ := b.post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {pw}, "next": {"/ioc"}})
		if res.StatusCode != 303 || res.Header.Get("Location") != "/login/verify?next=%2Fioc" {
			t.Fatalf("after the password: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := b.get("/ioc"); res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
			t.Fatalf("half signed in, /ioc = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		res, page := b.get("/login/verify?next=/ioc")
		m := secretRE.FindStringSubmatch(page)
		if res.StatusCode != 200 || m == nil || !strings.Contains(page, `src="data:image/png;base64,`) {
			t.Fatalf("set-up page %d:\n%s", res.StatusCode, page)
		}
		secret := strings.ReplaceAll(m[1], " ", "")
		res, page = b.post("/login/verify", url.Values{"code": {"000000"}, "next": {"/ioc"}})
		if res.StatusCode != 400 || !strings.Contains(page, "does not match") {
			t.Fatalf("a wrong code at set-up: %d", res.StatusCode)
		}
		code, _ := auth.TOTPCode(secret, auth.TOTPStep(time.Now()))
		res, page = b.post("/login/verify", url.Values{"code": {code}, "next": {"/ioc"}})
		if res.StatusCode != 200 || strings.Count(page, "<li><code>") != 10 || !strings.Contains(page, `href="/ioc"`) {
			t.Fatalf("codes page %d:\n%s", res.StatusCode, page)
		}
		recovery := regexp.MustCompile(`<li><code>([a-z2-7-]+)</code>`).FindStringSubmatch(page)[1]
		// The owner is told by mail that a way of signing in changed.
		mail.wait(t, "hoa@hue.gov.vn", "two-step sign-in was turned on")
		if res, _ := b.get("/ioc"); res.StatusCode != 200 {
			t.Fatalf("signed in, /ioc = %d", res.StatusCode)
		}

		// The account page: sessions, a password change with the policy.
		res, page = b.get("/account")
		if res.StatusCode != 200 || !strings.Contains(page, "hoa@hue.gov.vn") || strings.Count(page, "<tr><td>") != 1 {
			t.Fatalf("account page %d:\n%s", res.StatusCode, page)
		}
		res, page = b.post("/account/password", url.Values{"current_password": {pw}, "password": {"password123456"}, "password2": {"password123456"}})
		if res.StatusCode != 400 || !strings.Contains(page, "breach") {
			t.Fatalf("weak new password: %d", res.StatusCode)
		}

		// A second browser signs in with a recovery code; signing out
		// everywhere ends both.
		b2 := newBrowserish(t, ts.url)
		b2.post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {pw}})
		res, _ = b2.post("/login/verify", url.Values{"code": {recovery}, "next": {"/staff"}})
		if res.StatusCode != 303 || res.Header.Get("Location") != "/staff" {
			t.Fatalf("recovery code: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := b2.get("/staff"); res.StatusCode != 200 {
			t.Fatalf("second browser: %d", res.StatusCode)
		}
		res, _ = b.post("/account/sessions/end", nil)
		if res.StatusCode != 303 {
			t.Fatalf("sign out everywhere: %d", res.StatusCode)
		}
		for i, c := range []*browserish{b, b2} {
			if res, _ := c.get("/staff"); res.StatusCode != 303 {
				t.Fatalf("browser %d still signed in after signing out everywhere: %d", i+1, res.StatusCode)
			}
		}

		// A forgotten password: the same answer for a stranger, a link by
		// mail for the account, usable once.
		_, strangerPage := b.post("/login/forgot", url.Values{"email": {"nobody@hue.gov.vn"}})
		_, ownerPage := b.post("/login/forgot", url.Values{"email": {"hoa@hue.gov.vn"}})
		if strangerPage != ownerPage || !strings.Contains(ownerPage, "30") {
			t.Fatal("the forgotten-password answer tells whether the account exists")
		}
		link := regexp.MustCompile(`(http://[^ ]+/login/reset\?token=[^ ]+) `).FindStringSubmatch(mail.wait(t, "hoa@hue.gov.vn", "/login/reset?token="))
		if link == nil || !strings.HasPrefix(link[1], ts.url) {
			t.Fatalf("mail: %v", mail.sent)
		}
		u, _ := url.Parse(link[1])
		token := u.Query().Get("token")
		res, page = b.get("/login/reset?token=" + url.QueryEscape(token))
		if res.StatusCode != 200 || !strings.Contains(page, `name="token" value="`+token+`"`) {
			t.Fatalf("reset page %d", res.StatusCode)
		}
		const pw2 = "mưa Huế dầm dề tháng mười"
		res, _ = b.post("/login/reset", url.Values{"token": {token}, "password": {pw2}, "password2": {pw2}})
		if res.StatusCode != 303 || res.Header.Get("Location") != "/login?reset=1" {
			t.Fatalf("reset: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if res, _ := b.post("/login/reset", url.Values{"token": {token}, "password": {pw2 + "!"}, "password2": {pw2 + "!"}}); res.StatusCode != 400 {
			t.Fatalf("a used link: %d", res.StatusCode)
		}
		// The new password still needs the second factor.
		res, _ = b.post("/login", url.Values{"email": {"hoa@hue.gov.vn"}, "password": {pw2}})
		if !strings.HasPrefix(res.Header.Get("Location"), "/login/verify") {
			t.Fatalf("after reset, sign-in goes to %s", res.Header.Get("Location"))
		}
	})
}

func TestSignInLockoutPage(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		b := newBrowserish(t, ts.url)
		var last *http.Response
		var page string
		for range 6 {
			last, page = b.post("/login", url.Values{"email": {"who@hue.gov.vn"}, "password": {"guess guess guess"}})
		}
		if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" || !strings.Contains(page, "15") {
			t.Fatalf("sixth attempt: %d Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
		}
		// The page does not echo the password, and tells only to wait.
		if strings.Contains(page, "guess guess") {
			t.Fatal("the password was echoed")
		}
	})
}
