package jsonld

import (
	"testing"
)

func benchContext(b *testing.B) *Context {
	cache := NewCache()
	if _, err := cache.AddDir("https://contexts.example.org/", "testdata"); err != nil {
		b.Fatal(err)
	}
	c, err := Build(aqURL, cache)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// A mix of what an entity's attributes and types look like: data-model
// terms, core terms, reserved member names, undefined names (default
// vocab), compact and absolute IRIs.
var benchNames = []string{
	"AirQualityObserved", "pm25", "NO2", "dateObserved", "Property", "GeoProperty",
	"value", "observedAt", "location", "temperature", "windSpeed", "sdm-env:o3",
	"https://example.org/ns/x", "urn:ngsi-ld:Sensor:1",
}

func BenchmarkExpandTerm(b *testing.B) {
	c := benchContext(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ExpandTerm(benchNames[i%len(benchNames)])
	}
}

func BenchmarkCompactIRI(b *testing.B) {
	c := benchContext(b)
	iris := make([]string, len(benchNames))
	for i, n := range benchNames {
		iris[i] = c.ExpandTerm(n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.CompactIRI(iris[i%len(iris)])
	}
}

// BenchmarkBuild is the per-request cost of a Link-header context when
// the caller does not cache built contexts.
func BenchmarkBuild(b *testing.B) {
	cache := NewCache()
	if _, err := cache.AddDir("https://contexts.example.org/", "testdata"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(aqURL, cache); err != nil {
			b.Fatal(err)
		}
	}
}
