package storage_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// BenchmarkLocateArea measures the whole service call a report's routing
// makes: the cache check and the index lookup, over the Huế demo areas,
// at random points in the city's bounding box.
func BenchmarkLocateArea(b *testing.B) {
	db := storagetest.Open(b, storage.SQLite)
	areas, err := demo.Areas()
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := db.ImportAreas(sys(), areas); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pts := make([][2]float64, 4096)
	for i := range pts {
		pts[i] = [2]float64{15.98 + rng.Float64()*0.77, 107.0 + rng.Float64()*1.2}
	}
	ctx := sys()
	db.LocateArea(ctx, pts[0][0], pts[0][1], time.Time{}) // build the index
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pts[i&4095]
		db.LocateArea(ctx, p[0], p[1], time.Time{})
		i++
	}
}
