package simulate

import (
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/jsonld"
)

func TestToEntity(t *testing.T) {
	g, err := New(1, HueSites(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	list := g.At(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC))
	for _, e := range list {
		got, err := ToEntity(e, nil)
		if err != nil {
			t.Fatalf("%v: %v", e["id"], err)
		}
		if got.Type != jsonld.DefaultVocab+e["type"].(string) {
			t.Errorf("type %q not expanded with the default vocabulary", got.Type)
		}
		if _, ok := got.Attrs[cityops.LocationAttr]; !ok {
			t.Errorf("%s has no location under %s", got.ID, cityops.LocationAttr)
		}
	}
}
