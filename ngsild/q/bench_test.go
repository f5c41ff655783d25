package q

import "testing"

const benchQuery = `temperature>20;status=="ok"|(pm25>=35.5;pm25<55)`

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchQuery); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e, err := Parse(benchQuery)
	if err != nil {
		b.Fatal(err)
	}
	// temperature>20 holds but status does not, so the OR branch runs too.
	attrs := map[string][]any{
		"temperature": {21.5},
		"status":      {"degraded"},
		"pm25":        {40.0},
	}
	get := func(p Path) ([]any, bool) {
		v, ok := attrs[p.Attr]
		return v, ok
	}
	b.ReportAllocs()
	for b.Loop() {
		if !Eval(e, get) {
			b.Fatal("expected a match")
		}
	}
}
