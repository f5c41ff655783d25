package storage

import (
	"math"
	"testing"
	"time"

	"github.com/cityops/cityops"
)

// FuzzBlock round-trips instances through the block format and feeds the
// decoder arbitrary bytes: a block read back from disk may be damaged,
// and decoding must then fail cleanly, never panic.
func FuzzBlock(f *testing.F) {
	f.Add(int64(1767225600), 12.5, "GQ", `{"type":"Property","value":"x"}`, []byte{1, 2, 1, 0, 0, 0, 0, 0, 0, 240, 63})
	f.Add(int64(-5), math.Inf(1), "", `{}`, []byte{1})
	f.Fuzz(func(t *testing.T, sec int64, v float64, unit, js string, raw []byte) {
		_ = decodeBlock(raw, func(d *decoded) bool {
			_, _ = d.attr("")
			_, _ = d.value()
			return true
		})
		at := time.Unix(sec%(1<<33), 0).UTC()
		a := cityops.Attr{"type": "Property", "value": v, "observedAt": at.Format(time.RFC3339Nano)}
		if unit != "" {
			a["unitCode"] = unit
		}
		in1, err := newInstance(1, "a", a, at)
		if err != nil {
			return // NaN and infinities are not JSON
		}
		in2 := instance{pk: 1, attr: "a", at: at.Add(time.Second), value: js}
		if js == "" {
			in2.value = "{}"
		}
		b, err := encodeBlock([]instance{in1, in2})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = decodeBlock(b, func(d *decoded) bool {
			n++
			if n == 1 && (!d.at.Equal(at) || (in1.plain && d.num != v && !math.IsNaN(v))) {
				t.Errorf("first instance back as %+v, want %v at %v", d, v, at)
			}
			if n == 2 && string(d.json) != in2.value {
				t.Errorf("second instance back as %q, want %q", d.json, in2.value)
			}
			return true
		})
		if err != nil || n != 2 {
			t.Errorf("decode = %d instances, %v", n, err)
		}
	})
}
