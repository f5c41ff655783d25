package http_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cityops/cityops"
	"github.com/cityops/cityops/demo"
	"github.com/cityops/cityops/storage"
	"github.com/cityops/cityops/storage/storagetest"
)

// postRuleForm sends a form as a browser on the same site does.
func (ts *testServer) postRuleForm(path, session string, form url.Values) (*http.Response, string) {
	ts.t.Helper()
	return ts.do("POST", path, session, form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
}

// uploadRules sends one file in the "file" field of a multipart form.
func (ts *testServer) uploadRules(path, session, name, content string) (*http.Response, string) {
	ts.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		ts.t.Fatal(err)
	}
	io.WriteString(fw, content)
	mw.Close()
	return ts.do("POST", path, session, b.String(), "Content-Type", mw.FormDataContentType(), "Sec-Fetch-Site", "same-origin")
}

// ruleForm is a complete, valid rule as the form sends it.
func ruleForm(kv ...string) url.Values {
	f := url.Values{"create": {"1"}, "code": {"beds-test"}, "name": {"Giường bệnh quá tải"}, "name_en": {"Hospital beds full"},
		"sector": {"health"}, "severity": {"major"}, "entity_type": {"Building"}, "attr": {"bedOccupancyRate"}, "kind": {"threshold"},
		"op": {">"}, "value": {"90"}, "clear": {"88"}, "for_minutes": {"30"}, "auto_clear": {"true"}, "category": {"health.service"},
		"agency": {"SYT"}, "due_hours": {"8"}, "message": {"Công suất giường bệnh {value}% tại {entity}"}, "enabled": {"true"}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return f
}

// TestRulePages: administrators list, create, edit, switch, delete, import
// and export alarm rules on the web pages; operators only read them.
func TestRulePages(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, db *storage.DB) {
		ts := newTestServer(t, db)
		var changed atomic.Int32
		ts.RulesChanged = func(context.Context) { changed.Add(1) }
		if _, err := demo.Load(sysCtx(), demo.Services{Areas: db, Sectors: db, Agencies: db, Categories: db, Users: db, Routing: db, Alarms: db}); err != nil {
			t.Fatal(err)
		}
		adm := ts.admin
		wantChanges := func(n int32) {
			t.Helper()
			if got := changed.Load(); got != n {
				t.Errorf("rulesChanged called %d times, want %d", got, n)
			}
		}
		contains := func(what, body string, want ...string) {
			t.Helper()
			for _, w := range want {
				if !strings.Contains(body, w) {
					t.Errorf("%s lacks %q", what, w)
				}
			}
		}

		// Signed out: to the sign-in page.
		if res, _ := ts.do("GET", "/ioc/rules", "", ""); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fioc%2Frules" {
			t.Fatalf("anonymous list = %d %s", res.StatusCode, res.Header.Get("Location"))
		}

		// The list, with Huế's rules and their conditions in words.
		res, body := ts.do("GET", "/ioc/rules", adm, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("list = %d", res.StatusCode)
		}
		contains("the list", body, `href="/ioc/rules/pm25-qcvn"`, "PM2.5 vượt quy chuẩn Việt Nam", "&gt; 50 trong 60 phút, hết khi ≤ 45",
			"tăng ≥ 0.5 trong 60 phút, hết khi &lt; 0.3", "&gt; 75 3 lần trong 60 phút", "không có dữ liệu 30 phút",
			"<code>FloodMonitoring</code> <code>urn:ngsi-ld:FloodMonitoring:hue-kim-long</code> · <code>currentLevel</code>",
			"24 giờ", `href="/ioc/rules.csv"`, `id="import-rules"`, `action="/ioc/rules/pm25-qcvn/toggle"`, `href="/ioc/rules"`)
		_, body = ts.do("GET", "/ioc/rules?lang=en", adm, "")
		contains("the English list", body, "PM2.5 over the Vietnamese standard", "&gt; 50 for 60 min, clears ≤ 45",
			"rises ≥ 0.5 in 60 min, clears &lt; 0.3", "&gt; 75 3 times in 60 min", "silent 30 min", "Download all rules (CSV)")
		_, body = ts.do("GET", "/ioc/rules?sector=transport", adm, "")
		if !strings.Contains(body, "traffic-congestion") || strings.Contains(body, "pm25-qcvn") {
			t.Errorf("the transport filter shows the wrong rules")
		}
		_, body = ts.do("GET", "/ioc/rules?enabled=false", adm, "")
		if !strings.Contains(body, `id="rule-school-attendance"`) || strings.Contains(body, `id="rule-pm25-qcvn"`) {
			t.Errorf("the disabled filter shows the wrong rules")
		}

		// A new rule: the form, then its mistakes beside their fields.
		if res, body := ts.do("GET", "/ioc/rules/new", adm, ""); res.StatusCode != http.StatusOK || !strings.Contains(body, `id="rule-form"`) ||
			!strings.Contains(body, `name="create" value="1"`) || !strings.Contains(body, "{value}") {
			t.Fatalf("new rule form = %d", res.StatusCode)
		}
		res, body = ts.postRuleForm("/ioc/rules/new", adm, ruleForm("op", "", "value", "abc"))
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("rule without op = %d", res.StatusCode)
		}
		contains("the form without op", body, `<p class="field-error">must be one of &gt; &gt;= &lt; &lt;=</p>`,
			`<p class="field-error">phải là một số</p>`, `value="abc"`, `value="Giường bệnh quá tải"`, "Quy tắc chưa hợp lệ")
		res, body = ts.postRuleForm("/ioc/rules/new", adm, ruleForm("tenant", "thừa thiên"))
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("rule with a bad tenant = %d", res.StatusCode)
		}
		contains("the form with a bad tenant", body, `<p class="field-error">must be 1–64 letters, digits`, `value="thừa thiên"`)
		res, body = ts.postRuleForm("/ioc/rules/new", adm, ruleForm("clear", "95"))
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("clear on the wrong side = %d", res.StatusCode)
		}
		contains("the form with a wrong clear", body, `<p class="field-error">must be on the other side of value`)
		res, body = ts.postRuleForm("/ioc/rules/new", adm, ruleForm("code", "pm25-qcvn"))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "đã có quy tắc với mã này") {
			t.Fatalf("a new rule with a taken code = %d", res.StatusCode)
		}
		if res, body := ts.postRuleForm("/ioc/rules/new", adm, ruleForm("code", "new")); res.StatusCode != http.StatusBadRequest ||
			!strings.Contains(body, "mã này dành cho trang quản lý") {
			t.Fatalf("a new rule coded \"new\" = %d", res.StatusCode)
		}
		res, body = ts.postRuleForm("/ioc/rules/new", adm, ruleForm("category", "", "agency", "SYT"))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "needs a category") {
			t.Fatalf("an agency without category = %d", res.StatusCode)
		}
		if _, err := db.FindAlarmRule(sysCtx(), "beds-test"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("a wrong form saved a rule: %v", err)
		}
		if r, _ := db.FindAlarmRule(sysCtx(), "pm25-qcvn"); r.Name != "PM2.5 vượt quy chuẩn Việt Nam" {
			t.Fatalf("a new rule replaced an existing one: %q", r.Name)
		}
		wantChanges(0)

		res, _ = ts.postRuleForm("/ioc/rules/new", adm, ruleForm())
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ioc/rules?done=saved&code=beds-test" {
			t.Fatalf("create = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		wantChanges(1)
		created, err := db.FindAlarmRule(sysCtx(), "beds-test")
		if err != nil {
			t.Fatal(err)
		}
		if created.EntityType != "https://uri.etsi.org/ngsi-ld/default-context/Building" ||
			created.Attr != "https://uri.etsi.org/ngsi-ld/default-context/bedOccupancyRate" || created.Op != ">" || created.Value != 90 ||
			created.Clear == nil || *created.Clear != 88 || created.ForMinutes != 30 || !created.AutoClear || !created.Enabled ||
			created.Category != "health.service" || created.Agency != "SYT" || created.DueHours != 8 || created.Names["en"] != "Hospital beds full" ||
			created.Sector != "health" || created.Severity != "major" {
			t.Fatalf("created rule = %+v", created)
		}
		_, body = ts.do("GET", "/ioc/rules?done=saved&code=beds-test", adm, "")
		contains("the list after saving", body, "Đã lưu quy tắc beds-test.", "&gt; 90 trong 30 phút, hết khi ≤ 88")

		// Edit: the form shows names short; a box left unticked is off.
		res, body = ts.do("GET", "/ioc/rules/beds-test", adm, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("rule page = %d", res.StatusCode)
		}
		contains("the edit form", body, `id="rule-form"`, `action="/ioc/rules/beds-test"`, `value="Building"`, `value="bedOccupancyRate"`,
			`<option value="&gt;" selected>`, `value="88"`, `id="delete-rule"`, `action="/ioc/rules/beds-test/delete"`)
		res, _ = ts.postRuleForm("/ioc/rules/beds-test", adm, ruleForm("create", "", "code", "", "name", "Giường bệnh trên 92%", "value", "92",
			"clear", "", "auto_clear", "", "for_minutes", "", "name_en", ""))
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit = %d", res.StatusCode)
		}
		wantChanges(2)
		edited, _ := db.FindAlarmRule(sysCtx(), "beds-test")
		if edited.ID != created.ID || edited.Name != "Giường bệnh trên 92%" || edited.Value != 92 || edited.Clear != nil || edited.AutoClear ||
			edited.ForMinutes != 0 || edited.Names["en"] != "" || !edited.Enabled {
			t.Fatalf("edited rule = %+v", edited)
		}
		res, body = ts.postRuleForm("/ioc/rules/beds-test", adm, ruleForm("create", "", "kind", "count", "window_minutes", "-5"))
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("count rule without count = %d", res.StatusCode)
		}
		contains("the count form", body, `<p class="field-error">must be 1 to 10000</p>`, `<p class="field-error">must be 0 to 10080 (a week)</p>`,
			`value="-5"`, `action="/ioc/rules/beds-test"`)

		// Switch off and on.
		res, _ = ts.postRuleForm("/ioc/rules/beds-test/toggle", adm, nil)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ioc/rules?done=disabled&code=beds-test" {
			t.Fatalf("toggle = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if r, _ := db.FindAlarmRule(sysCtx(), "beds-test"); r.Enabled {
			t.Fatal("the rule is still enabled")
		}
		_, body = ts.do("GET", "/ioc/rules?done=disabled&code=beds-test&enabled=false", adm, "")
		contains("the list after disabling", body, "Đã tắt quy tắc beds-test.", `id="rule-beds-test"`)
		ts.postRuleForm("/ioc/rules/beds-test/toggle", adm, nil)
		if r, _ := db.FindAlarmRule(sysCtx(), "beds-test"); !r.Enabled {
			t.Fatal("the rule is still disabled")
		}
		wantChanges(4)

		// A form from another site is refused.
		res, _ = ts.do("POST", "/ioc/rules/beds-test/toggle", adm, "x=1", "Content-Type", "application/x-www-form-urlencoded",
			"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site toggle = %d", res.StatusCode)
		}

		// An operator reads, and may change nothing.
		op := ts.signIn(cityops.RoleOperator, "IOC", "")
		res, body = ts.do("GET", "/ioc/rules", op, "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, "Giường bệnh trên 92%") || !strings.Contains(body, `href="/ioc/rules"`) {
			t.Fatalf("operator list = %d", res.StatusCode)
		}
		if strings.Contains(body, `id="import-rules"`) || strings.Contains(body, "/toggle") || strings.Contains(body, "/ioc/rules/new") {
			t.Error("the operator's list offers changes")
		}
		res, body = ts.do("GET", "/ioc/rules/beds-test", op, "")
		if res.StatusCode != http.StatusOK || strings.Contains(body, `id="rule-form"`) || strings.Contains(body, "/delete") {
			t.Fatalf("operator rule page = %d, or with a form", res.StatusCode)
		}
		contains("the read-only page", body, `id="rule-facts"`, "&gt; 92", "<code>bedOccupancyRate</code>", "Sở Y tế")
		for _, path := range []string{"/ioc/rules/beds-test", "/ioc/rules/beds-test/toggle", "/ioc/rules/beds-test/delete", "/ioc/rules/new"} {
			if res, _ := ts.postRuleForm(path, op, ruleForm()); res.StatusCode != http.StatusForbidden {
				t.Errorf("operator POST %s = %d", path, res.StatusCode)
			}
		}
		if res, _ := ts.uploadRules("/ioc/rules/import", op, "r.csv", "code,name\n"); res.StatusCode != http.StatusForbidden {
			t.Errorf("operator import = %d", res.StatusCode)
		}
		if res, _ := ts.do("GET", "/ioc/rules/new", op, ""); res.StatusCode != http.StatusForbidden {
			t.Errorf("operator new form = %d", res.StatusCode)
		}
		if r, _ := db.FindAlarmRule(sysCtx(), "beds-test"); r.Name != "Giường bệnh trên 92%" || !r.Enabled {
			t.Errorf("the operator changed the rule: %+v", r)
		}
		wantChanges(4)

		// Delete.
		res, _ = ts.postRuleForm("/ioc/rules/beds-test/delete", adm, nil)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ioc/rules?done=deleted&code=beds-test" {
			t.Fatalf("delete = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		if _, err := db.FindAlarmRule(sysCtx(), "beds-test"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("deleted rule: %v", err)
		}
		if res, _ := ts.do("GET", "/ioc/rules/beds-test", adm, ""); res.StatusCode != http.StatusNotFound {
			t.Errorf("deleted rule page = %d", res.StatusCode)
		}
		_, body = ts.do("GET", "/ioc/rules?done=deleted&code=beds-test", adm, "")
		contains("the list after deleting", body, "Đã xóa quy tắc beds-test.")
		wantChanges(5)

		// Import: nothing when a line is wrong, the lines named.
		bad := "code,name,name_en,severity,tenant,entity_type,entity_id,attr,kind,op,value,clear,window_minutes,category,message\n" +
			"imp-a,Mực nước giảm nhanh,Level falling fast,major,thuy-loi,FloodMonitoring,,currentLevel,rate,<=,-0.5,-0.3,60,,-- mực nước giảm tại {entity}\n" +
			"imp-b,PM10,,minor,,AirQualityObserved,,pm10,threshold,>,abc,,,no.such,\n"
		res, body = ts.uploadRules("/ioc/rules/import", adm, "rules.csv", bad)
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad import = %d", res.StatusCode)
		}
		contains("the bad import", body, "Chưa lưu quy tắc nào", "line 3: value: &#34;abc&#34; is not a number")
		res, body = ts.uploadRules("/ioc/rules/import", adm, "rules.csv", strings.Replace(bad, "abc", "150", 1))
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("import with an unknown category = %d", res.StatusCode)
		}
		contains("the import with an unknown category", body, "line 3: category: unknown category &#34;no.such&#34;")
		if _, err := db.FindAlarmRule(sysCtx(), "imp-a"); cityops.ErrorCode(err) != cityops.ENOTFOUND {
			t.Fatalf("a failed import saved a rule: %v", err)
		}
		wantChanges(5)
		good := strings.Replace(strings.Replace(bad, "abc", "150", 1), "no.such", "environment.pollution", 1)
		res, _ = ts.uploadRules("/ioc/rules/import", adm, "rules.csv", good)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ioc/rules?done=imported&n=2" {
			t.Fatalf("import = %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		wantChanges(6)
		imp, err := db.FindAlarmRule(sysCtx(), "imp-a")
		if err != nil || imp.Value != -0.5 || imp.Clear == nil || *imp.Clear != -0.3 || imp.Message != "-- mực nước giảm tại {entity}" || imp.Tenant != "thuy-loi" ||
			imp.EntityType != "https://uri.etsi.org/ngsi-ld/default-context/FloodMonitoring" {
			t.Fatalf("imported rule = %+v, %v", imp, err)
		}
		_, body = ts.do("GET", "/ioc/rules?done=imported&n=2", adm, "")
		contains("the list after importing", body, "Đã nhập và lưu 2 quy tắc.", "giảm ≥ 0.5 trong 60 phút, hết khi &lt; 0.3")
		if res, _ := ts.uploadRules("/ioc/rules/import", adm, "big.csv", strings.Repeat("x", 70<<10)); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a file over the limit = %d, want 413", res.StatusCode)
		}
		if res, body := ts.uploadRules("/ioc/rules/import", adm, "empty.csv", ""); res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "the file is empty") {
			t.Errorf("an empty file = %d", res.StatusCode)
		}

		// Export, change the rules, import the export: as they were.
		before, err := db.AlarmRules(sysCtx())
		if err != nil {
			t.Fatal(err)
		}
		res, body = ts.do("GET", "/ioc/rules.csv", op, "")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("rules.csv = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(recs[0], cityops.AlarmRuleColumns) {
			t.Fatalf("header = %v", recs[0])
		}
		if len(recs) != len(before)+1 {
			t.Fatalf("%d lines for %d rules", len(recs)-1, len(before))
		}
		col := map[string]int{}
		for i, c := range recs[0] {
			col[c] = i
		}
		for _, rec := range recs[1:] {
			if rec[col["code"]] != "imp-a" {
				continue
			}
			if rec[col["value"]] != "-0.5" || rec[col["clear"]] != "-0.3" || rec[col["op"]] != "<=" || rec[col["entity_type"]] != "FloodMonitoring" || rec[col["tenant"]] != "thuy-loi" ||
				rec[col["attr"]] != "currentLevel" || rec[col["message"]] != "'-- mực nước giảm tại {entity}" || rec[col["name_en"]] != "Level falling fast" {
				t.Errorf("imp-a in the export = %q", rec)
			}
		}
		ctx := cityops.NewContextWithActor(context.Background(), cityops.SystemActor())
		pm, _ := db.FindAlarmRule(ctx, "pm25-qcvn")
		pm.Value, pm.Clear, pm.Enabled, pm.Names = 70, nil, false, nil
		if err := db.SaveAlarmRule(ctx, pm); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteAlarmRule(ctx, "river-rising"); err != nil {
			t.Fatal(err)
		}
		res, _ = ts.uploadRules("/ioc/rules/import", adm, "export.csv", body)
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("importing the export = %d", res.StatusCode)
		}
		for _, want := range before {
			got, err := db.FindAlarmRule(sysCtx(), want.Code)
			if err != nil {
				t.Errorf("%s after the round trip: %v", want.Code, err)
				continue
			}
			// Bookkeeping aside: river-rising was deleted and comes back new.
			g, w := *got, *want
			g.ID, g.CreatedAt, g.UpdatedAt = 0, time.Time{}, time.Time{}
			w.ID, w.CreatedAt, w.UpdatedAt = 0, time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s after the round trip:\n got %+v\nwant %+v", want.Code, g, w)
			}
		}
		if after, _ := db.AlarmRules(sysCtx()); len(after) != len(before) {
			t.Errorf("%d rules after the round trip, want %d", len(after), len(before))
		}
	})
}
