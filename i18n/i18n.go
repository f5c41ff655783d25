// Package i18n is the message catalogue every user-facing text goes
// through. Vietnamese is the default and the reference; English ships too.
// A third language needs no code: put a file such as fr.json beside the
// others, or in the directory given with -locales, and restart.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/text/language"
)

//go:embed locales/*.json
var embedded embed.FS

// Default is the language used when nothing else matches.
const Default = "vi"

// Catalog holds the messages of every loaded language. It is read-only
// after Load and safe for concurrent use.
type Catalog struct {
	msgs    map[string]map[string]string // lang → key → message
	langs   []Language
	matcher language.Matcher
}

// Language is one loaded language, for the language switch.
type Language struct {
	Tag  string // "vi"
	Name string // its own name: "Tiếng Việt"
}

// Load reads the built-in catalogues and then every *.json in dir (if dir is
// not empty); a file in dir replaces or adds to the built-in one of its
// language. Every language must name itself with the "_name" key.
func Load(dir string) (*Catalog, error) {
	c := &Catalog{msgs: map[string]map[string]string{}}
	if err := c.loadFS(embedded, "locales"); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := c.loadFS(os.DirFS(dir), "."); err != nil {
			return nil, fmt.Errorf("locales %s: %w", dir, err)
		}
	}
	if _, ok := c.msgs[Default]; !ok {
		return nil, fmt.Errorf("no %s catalogue", Default)
	}
	tags := []language.Tag{language.MustParse(Default)}
	c.langs = []Language{{Tag: Default, Name: c.msgs[Default]["_name"]}}
	var others []string
	for l := range c.msgs {
		if l != Default {
			others = append(others, l)
		}
	}
	sort.Strings(others)
	for _, l := range others {
		tags = append(tags, language.MustParse(l))
		c.langs = append(c.langs, Language{Tag: l, Name: c.msgs[l]["_name"]})
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

func (c *Catalog) loadFS(fsys fs.FS, dir string) error {
	names, err := fs.Glob(fsys, filepath.ToSlash(filepath.Join(dir, "*.json")))
	if err != nil {
		return err
	}
	for _, name := range names {
		lang := strings.TrimSuffix(filepath.Base(name), ".json")
		if _, err := language.Parse(lang); err != nil {
			return fmt.Errorf("%s: file name is not a language tag", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if m["_name"] == "" {
			return fmt.Errorf("%s: the \"_name\" key (the language's own name) is missing", name)
		}
		if c.msgs[lang] == nil {
			c.msgs[lang] = map[string]string{}
		}
		for k, v := range m {
			c.msgs[lang][k] = v
		}
	}
	return nil
}

// Languages lists the loaded languages, the default first.
func (c *Catalog) Languages() []Language { return c.langs }

// Has reports whether lang is loaded.
func (c *Catalog) Has(lang string) bool { _, ok := c.msgs[lang]; return ok }

// Keys returns the keys of a language's catalogue, sorted.
func (c *Catalog) Keys(lang string) []string {
	var out []string
	for k := range c.msgs[lang] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// T returns the message key in lang, formatted with args as fmt does. A key
// missing in lang falls back to Vietnamese, then to the key itself, so a
// half-translated catalogue still shows something readable.
func (c *Catalog) T(lang, key string, args ...any) string {
	msg, ok := c.msgs[lang][key]
	if !ok {
		if msg, ok = c.msgs[Default][key]; !ok {
			msg = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Match picks the language for a request: an explicit choice (a cookie or
// query value) if it is loaded, else the best match of the Accept-Language
// header, else Vietnamese.
func (c *Catalog) Match(choice, acceptLanguage string) string {
	if choice != "" && c.Has(choice) {
		return choice
	}
	if acceptLanguage == "" {
		return Default
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Default
	}
	_, idx, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return Default
	}
	return c.langs[idx].Tag
}
