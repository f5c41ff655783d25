package storage_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/ngsild/q"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// TestQueryByValues checks that q answered through the value index
// (exactly, or narrowed and finished in memory) finds the same entities
// as q.Eval over every entity, for values of every shape.
func TestQueryByValues(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 11))
		const typ = "https://example.org/Sensor"
		ex := func(s string) string { return "https://example.org/" + s }
		words := []string{"Huế", "Hương", "an", "Ba", "dong", "z", "10"}
		var all []*cityops.Entity
		for i := 0; i < 240; i++ {
			e := &cityops.Entity{ID: fmt.Sprintf("urn:ngsi-ld:Sensor:%03d", i), Type: typ, Attrs: map[string][]cityops.Attr{}}
			if rng.IntN(5) > 0 {
				e.Attrs[ex("n")] = []cityops.Attr{{"type": "Property", "value": float64(rng.IntN(20)) / 2}}
				if rng.IntN(6) == 0 { // a second dataset
					e.Attrs[ex("n")] = append(e.Attrs[ex("n")], cityops.Attr{"type": "Property", "value": float64(rng.IntN(20)), "datasetId": "urn:ngsi-ld:Dataset:b"})
				}
			}
			switch rng.IntN(6) {
			case 0:
				e.Attrs[ex("s")] = []cityops.Attr{{"type": "Property", "value": words[rng.IntN(len(words))]}}
			case 1:
				e.Attrs[ex("s")] = []cityops.Attr{{"type": "Property", "value": []any{words[rng.IntN(len(words))], float64(rng.IntN(5))}}}
			case 2:
				e.Attrs[ex("s")] = []cityops.Attr{{"type": "Property", "value": map[string]any{"a": 1.0}}}
			case 3:
				e.Attrs[ex("s")] = []cityops.Attr{{"type": "Property", "value": rng.IntN(2) == 0}}
			case 4:
				e.Attrs[ex("s")] = []cityops.Attr{{"type": "Property", "value": float64(rng.IntN(4))}}
			}
			if rng.IntN(3) == 0 {
				e.Attrs[ex("r")] = []cityops.Attr{{"type": "Relationship", "object": fmt.Sprintf("urn:ngsi-ld:Area:%d", rng.IntN(3))}}
			}
			if rng.IntN(4) == 0 {
				e.Attrs[ex("d")] = []cityops.Attr{{"type": "Property", "value": fmt.Sprintf("2026-0%d-01T00:00:00Z", 1+rng.IntN(9)),
					"accuracy": map[string]any{"type": "Property", "value": float64(rng.IntN(3))}}}
			}
			all = append(all, e)
		}
		// Half through the batch path, half one by one; then change some.
		if errs, err := db.UpsertEntities(ctx, "", all[:120], false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		for _, e := range all[120:] {
			if err := db.CreateEntity(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 240; i += 7 {
			e := all[i]
			v := cityops.Attr{"type": "Property", "value": float64(rng.IntN(20))}
			e.Attrs[ex("n")] = []cityops.Attr{v}
			if _, err := db.AppendAttrs(ctx, "", e.ID, map[string][]cityops.Attr{ex("n"): {v}}, false); err != nil {
				t.Fatal(err)
			}
		}
		for i := 3; i < 240; i += 11 {
			e := all[i]
			if _, ok := e.Attrs[ex("s")]; !ok {
				continue
			}
			delete(e.Attrs, ex("s"))
			if err := db.DeleteAttr(ctx, "", e.ID, ex("s"), "", true); err != nil {
				t.Fatal(err)
			}
		}
		// Batch updates that change a value's shape (array ↔ scalar, a
		// new datasetId) and ones that keep it.
		var upd []*cityops.Entity
		for i := 1; i < 240; i += 5 {
			e := all[i]
			var v cityops.Attr
			switch i % 3 {
			case 0:
				v = cityops.Attr{"type": "Property", "value": []any{"Huế", 3.0}}
			case 1:
				v = cityops.Attr{"type": "Property", "value": words[i%len(words)]}
			default:
				v = cityops.Attr{"type": "Property", "value": 2.0, "datasetId": "urn:ngsi-ld:Dataset:c"}
			}
			e.Attrs[ex("s")] = mergeByDataset(e.Attrs[ex("s")], v)
			upd = append(upd, &cityops.Entity{ID: e.ID, Type: typ, Attrs: map[string][]cityops.Attr{ex("s"): {v}}})
			nv := cityops.Attr{"type": "Property", "value": float64(i % 7)}
			e.Attrs[ex("n")] = mergeByDataset(e.Attrs[ex("n")], nv)
			upd[len(upd)-1].Attrs[ex("n")] = []cityops.Attr{nv}
		}
		if errs, err := db.UpsertEntities(ctx, "", upd, false); err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		expand := func(s string) string {
			if s == "n" || s == "s" || s == "r" || s == "d" {
				return ex(s)
			}
			return s
		}
		for _, qs := range []string{
			"n", "n==3", "n!=3", "n>4.5", "n>=4.5", "n<2", "n<=2", "n==1..4", "n!=1..4", "n==1,2,8", "n!=1,2,8",
			"s", `s=="Huế"`, `s!="Huế"`, `s>"an"`, `s<="Hương"`, `s=="a".."z"`, `s=="Ba","dong"`, `s==2`, `s!=2`, "s==true", `s~="^H"`, `s!~="^H"`,
			"s[a]==1", "r==urn:ngsi-ld:Area:1", "r!=urn:ngsi-ld:Area:1", "d>2026-05-01T00:00:00Z", "d.accuracy==1", "d.accuracy",
			"n>3;s", "n>3|s==2", "(n<2|n>8);r", "n==3;n!=3", "n>1;(s|r);d", "missing", "missing==1", `n=="3"`,
		} {
			expr, err := q.Parse(qs)
			if err != nil {
				t.Fatalf("%q: %v", qs, err)
			}
			var want []string
			for _, e := range all {
				if q.Eval(expr, q.EntityGetter(e, expand)) {
					want = append(want, e.ID)
				}
			}
			got, total, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{typ}, Q: expr, Expand: expand, Count: true, Limit: 1000})
			if err != nil {
				t.Fatalf("%s: %v", qs, err)
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, want) || total != len(want) {
				t.Errorf("q=%s: %d (count %d) %v\nwant %d %v", qs, len(ids), total, ids, len(want), want)
			}
			// A page is the same slice of the matches.
			page, _, err := db.FindEntities(ctx, cityops.EntityFilter{Types: []string{typ}, Q: expr, Expand: expand, Offset: 3, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			var pids []string
			for _, e := range page {
				pids = append(pids, e.ID)
			}
			wantPage := want[min(3, len(want)):min(8, len(want))]
			if !slices.Equal(pids, wantPage) {
				t.Errorf("q=%s page: %v, want %v", qs, pids, wantPage)
			}
		}
	})
}

func mergeByDataset(old []cityops.Attr, a cityops.Attr) []cityops.Attr {
	for i, o := range old {
		if o.DatasetID() == a.DatasetID() {
			out := append([]cityops.Attr(nil), old...)
			out[i] = a
			return out
		}
	}
	return append(append([]cityops.Attr(nil), old...), a)
}

// TestTypeCounts keeps the counts that answer count=true by type alone
// true through every way entities come and go.
func TestTypeCounts(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 5))
		types := []string{"https://example.org/A", "https://example.org/B"}
		live := map[string]map[string]string{"": {}, "t2": {}} // tenant → id → type
		for i := 0; i < 300; i++ {
			tenant := []string{"", "t2"}[rng.IntN(2)]
			typ := types[rng.IntN(2)]
			id := fmt.Sprintf("urn:x:%d", rng.IntN(60))
			e := &cityops.Entity{ID: id, Type: typ, Tenant: tenant, Attrs: map[string][]cityops.Attr{
				"https://example.org/v": {{"type": "Property", "value": float64(i), "observedAt": "2026-01-01T00:00:00Z"}}}}
			switch rng.IntN(4) {
			case 0:
				err := db.CreateEntity(ctx, e)
				if _, exists := live[tenant][id]; exists {
					if cityops.ErrorCode(err) != cityops.ECONFLICT {
						t.Fatalf("create existing: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
			case 1:
				errs, err := db.UpsertEntities(ctx, tenant, []*cityops.Entity{e}, false)
				if err != nil {
					t.Fatal(err)
				}
				if errs[id] != nil {
					continue // a type clash
				}
			case 2:
				errs, err := db.IngestEntities(ctx, tenant, []*cityops.Entity{e})
				if err != nil {
					t.Fatal(err)
				}
				if errs[id] != nil {
					continue
				}
			case 3:
				err := db.DeleteEntity(ctx, tenant, id)
				if _, exists := live[tenant][id]; !exists {
					if cityops.ErrorCode(err) != cityops.ENOTFOUND {
						t.Fatalf("delete missing: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				delete(live[tenant], id)
				continue
			}
			if _, exists := live[tenant][id]; !exists {
				live[tenant][id] = typ
			}
		}
		for tenant, ids := range live {
			for _, typ := range types {
				want := 0
				for _, t2 := range ids {
					if t2 == typ {
						want++
					}
				}
				_, total, err := db.FindEntities(ctx, cityops.EntityFilter{Tenant: tenant, Types: []string{typ}, Limit: 1, Count: true})
				if err != nil {
					t.Fatal(err)
				}
				if total != want {
					t.Errorf("tenant %q type %s: count %d, want %d", tenant, typ, total, want)
				}
			}
			_, total, _ := db.FindEntities(ctx, cityops.EntityFilter{Tenant: tenant, Types: types, Limit: 1, Count: true})
			if total != len(ids) {
				t.Errorf("tenant %q both types: count %d, want %d", tenant, total, len(ids))
			}
		}
	})
}
