package auth

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// common-passwords.txt.gz holds passwords found in breaches, most common
// first (SOURCE.md says where from).
//
//go:embed common-passwords.txt.gz
var commonGz []byte

// extraWords are words people in Huế put in passwords that the breach list
// does not know, and the system's own name.
var extraWords = []string{"matkhau", "anhyeuem", "emyeuanh", "yeuem", "vietnam", "hue", "thuathienhue", "hochiminh", "saigon",
	"hanoi", "danang", "quantri", "quantrivien", "admin", "cityops", "ubnd", "sohue"}

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

func commonSet() map[string]struct{} {
	commonOnce.Do(func() {
		common = make(map[string]struct{}, 50000)
		zr, err := gzip.NewReader(bytes.NewReader(commonGz))
		if err != nil {
			panic("auth: common passwords: " + err.Error())
		}
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			common[sc.Text()] = struct{}{}
		}
		if err := sc.Err(); err != nil {
			panic("auth: common passwords: " + err.Error())
		}
		for _, w := range extraWords {
			common[w] = struct{}{}
		}
	})
	return common
}

// WeakPassword tells why a password of the right length is still easy to
// guess, or returns "" when it is not. There are no composition rules
// (NIST SP 800-63B, OWASP ASVS 2.1.9): it refuses what attackers try
// first —
//   - a password from the breach list, ignoring case and accents;
//   - a breached password or common word with digits or symbols around it
//     ("Dragon2026!!");
//   - one short piece repeated ("abcabcabcabc") or a run of one
//     keyboard row or sequence ("123456789012", "qwertyuiopas");
//   - the person's own e-mail name or name, with little else.
//
// personal holds the account's e-mail and name.
func WeakPassword(pw string, personal ...string) string {
	folded := fold(pw)
	set := commonSet()
	if _, ok := set[folded]; ok {
		return "is a commonly used password that appears in breaches"
	}
	if stem := strings.TrimFunc(folded, notLetter); utf8.RuneCountInString(stem) >= 3 {
		if _, ok := set[stem]; ok {
			return "is a common word or breached password with digits or symbols added"
		}
	}
	if repeated(folded) {
		return "repeats a short piece"
	}
	if sequential(folded) {
		return "is a run of keys or digits"
	}
	rest := folded
	for _, p := range personal {
		p = fold(p)
		if at := strings.IndexByte(p, '@'); at >= 0 {
			p = p[:at]
		}
		for _, w := range strings.FieldsFunc(p, notLetterOrDigit) {
			if utf8.RuneCountInString(w) >= 3 {
				rest = strings.ReplaceAll(rest, w, "")
			}
		}
	}
	if rest != folded && utf8.RuneCountInString(strings.TrimFunc(rest, notLetter)) < 8 {
		return "is mostly your own name or e-mail address"
	}
	return ""
}

// fold lower-cases s and takes the accents off letters (Vietnamese
// passwords are often typed with and without them), and drops spaces.
func fold(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(s)) {
		switch {
		case unicode.Is(unicode.Mn, r), unicode.IsSpace(r):
		case r == 'đ':
			b.WriteRune('d')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func notLetter(r rune) bool        { return !unicode.IsLetter(r) }
func notLetterOrDigit(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// repeated reports whether s is one piece of up to 4 characters repeated.
func repeated(s string) bool {
	r := []rune(s)
	for n := 1; n <= 4 && n < len(r); n++ {
		if len(r)%n != 0 {
			continue
		}
		same := true
		for i := n; i < len(r) && same; i++ {
			same = r[i] == r[i-n]
		}
		if same {
			return true
		}
	}
	return false
}

// runs are sequences people walk along.
var runs = []string{"0123456789012345678901234567890", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
	"qwertyuiopasdfghjklzxcvbnmqwertyuiop", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp"}

// sequential reports whether s, or s reversed, lies along one run.
func sequential(s string) bool {
	rev := []rune(s)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, run := range runs {
		if strings.Contains(run, s) || strings.Contains(run, string(rev)) {
			return true
		}
	}
	return false
}
