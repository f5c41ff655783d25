package cityops_test

import (
	"fmt"
	"testing"

	"github.com/cityops/cityops"
)

func TestEntityPoint(t *testing.T) {
	loc := func(v any, dataset string) *cityops.Entity {
		a := cityops.Attr{"type": "GeoProperty", "value": v}
		if dataset != "" {
			a["datasetId"] = dataset
		}
		return &cityops.Entity{Attrs: map[string][]cityops.Attr{cityops.LocationAttr: {a}}}
	}
	for _, tt := range []struct {
		e    *cityops.Entity
		want string
	}{
		{loc(map[string]any{"type": "Point", "coordinates": []any{107.59, 16.46}}, ""), "16.46 107.59 true"},
		{loc(map[string]any{"type": "Point", "coordinates": []float64{107.59, 16.46}}, ""), "16.46 107.59 true"},
		{loc(map[string]any{"type": "Point", "coordinates": []any{107.59, 16.46, 12.0}}, ""), "16.46 107.59 true"},
		{loc(map[string]any{"type": "Point", "coordinates": []any{16.46, 107.59}}, ""), "107.59 16.46 false"}, // swapped
		{loc(map[string]any{"type": "Point", "coordinates": []any{"107.59", 16.46}}, ""), "16.46 0 false"},
		{loc(map[string]any{"type": "Polygon", "coordinates": []any{}}, ""), "0 0 false"},
		{loc(map[string]any{"type": "Point", "coordinates": []any{107.59, 16.46}}, "urn:ngsi-ld:Dataset:gps"), "0 0 false"},
		{loc("16.46,107.59", ""), "0 0 false"},
		{&cityops.Entity{}, "0 0 false"},
	} {
		lat, lon, ok := tt.e.Point()
		if got := fmt.Sprint(lat, lon, ok); got != tt.want {
			t.Errorf("Point(%v): got %s, want %s", tt.e.Attrs, got, tt.want)
		}
	}
}
