package auth

import (
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery staple", TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id with the given params", h)
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"", false},
		{"Correct horse battery staple", false},
	} {
		got, err := VerifyPassword(tt.pw, h)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, want %v", tt.pw, got, tt.want)
		}
	}
	h2, _ := HashPassword("correct horse battery staple", TestParams)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyBadHash(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=18$m=1024,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1024,t=0,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$",
	} {
		if ok, err := VerifyPassword("x", h); err != ErrBadHash || ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, ErrBadHash", h, ok, err)
		}
	}
}

func TestTokens(t *testing.T) {
	a, b := NewToken(32), NewToken(32)
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q: want two different 43-character tokens", a, b)
	}
	if HashToken(a) == HashToken(b) || len(HashToken(a)) != 64 {
		t.Fatal("token hashes are not distinct 64-hex-digit strings")
	}
}
