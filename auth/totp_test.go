package auth

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last 6 are ours).
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))
	for _, c := range []struct {
		unix int64
		want string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}} {
		got, err := TOTPCode(secret, TOTPStep(time.Unix(c.unix, 0)))
		if err != nil || got != c.want[2:] {
			t.Errorf("T=%d: %q, %v; want %q", c.unix, got, err, c.want[2:])
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Unix(1_800_000_000, 0)
	code, _ := TOTPCode(secret, TOTPStep(now))
	step, ok := VerifyTOTP(secret, code[:3]+" "+code[3:], now, 0)
	if !ok || step != TOTPStep(now) {
		t.Fatalf("a fresh code with a space was refused")
	}
	if _, ok := VerifyTOTP(secret, code, now, step); ok {
		t.Fatal("a code was accepted twice")
	}
	if _, ok := VerifyTOTP(secret, code, now.Add(30*time.Second), 0); !ok {
		t.Fatal("the previous step's code was refused (one step of skew is allowed)")
	}
	if _, ok := VerifyTOTP(secret, code, now.Add(90*time.Second), 0); ok {
		t.Fatal("a code three steps old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := VerifyTOTP(secret, bad, now, 0); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, ok := VerifyTOTP("not base32!", "123456", now, 0); ok {
		t.Fatal("a bad secret verified")
	}
	uri := TOTPURI("cityops Huế", "a@hue.gov.vn", secret)
	if !strings.HasPrefix(uri, "otpauth://totp/cityops%20Hu%E1%BA%BF:a@hue.gov.vn?") || !strings.Contains(uri, "secret="+secret) || !strings.Contains(uri, "issuer=cityops%20Hu%E1%BA%BF") {
		t.Fatalf("uri = %s", uri)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := NewRecoveryCodes(10)
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		if NormalizeRecoveryCode(strings.ToUpper(strings.ReplaceAll(c, "-", " "))) != c {
			t.Fatalf("normalising %q", c)
		}
	}
}

func TestWeakPassword(t *testing.T) {
	for _, pw := range []string{"password1234", "Password!2026", "qwertyuiop12", "1qaz2wsx3edc", "abcabcabcabc", "aaaaaaaaaaaa",
		"123456789012", "Mật khẩu 2026!", "anhyeuem12345", "nguyenvana2026", "   Sunshine   ", "ponmlkjihgfedcba"} {
		if WeakPassword(pw, "nguyenvana@hue.gov.vn", "Nguyễn Văn A") == "" {
			t.Errorf("%q was accepted", pw)
		}
	}
	for _, pw := range []string{"correct horse battery staple", "Sông Hương chảy qua Kim Long", "tr4m-b0ng-ch1m-s4ng", "Đại Nội mùa thu 1802"} {
		if why := WeakPassword(pw, "nguyenvana@hue.gov.vn", "Nguyễn Văn A"); why != "" {
			t.Errorf("%q was refused: %s", pw, why)
		}
	}
}
