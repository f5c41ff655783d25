package http_test

import (
	"flag"
	"testing"

	cityhttp "github.com/cityops/cityops/http"
)

// TestTemplatesExecuted fails on a template that no test rendered: a page
// nobody checks is a page nobody knows works. It runs after the page tests
// (go test runs files in name order); with -run it cannot know, so it
// skips.
func TestTemplatesExecuted(t *testing.T) {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		t.Skip("only meaningful when every test runs")
	}
	if missing := cityhttp.UnexecutedTemplates(); len(missing) > 0 {
		t.Errorf("templates no test executed: %v", missing)
	}
}
