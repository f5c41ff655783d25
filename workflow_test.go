package cityops

import (
	"fmt"
	"strings"
	"testing"
)

// spec is the workflow written out as the issue describes it, one line per
// allowed (status, action) pair: "status action party... -> result". Every
// pair not listed must be refused.
const spec = `
received assign centre -> assigned
assigned assign centre -> assigned
assigned accept lead -> accepted
accepted start lead -> in_progress
accepted resolve lead -> resolved
in_progress resolve lead -> resolved
assigned decline lead -> received
accepted decline lead -> received
in_progress decline lead -> received
received reject centre -> rejected
assigned reject centre -> rejected
accepted reject centre -> rejected
in_progress reject centre -> rejected
received mark_duplicate centre lead -> duplicate
assigned mark_duplicate centre lead -> duplicate
accepted mark_duplicate centre lead -> duplicate
in_progress mark_duplicate centre lead -> duplicate
assigned request_transfer lead -> assigned
accepted request_transfer lead -> accepted
in_progress request_transfer lead -> in_progress
assigned approve_transfer centre -> assigned
accepted approve_transfer centre -> assigned
in_progress approve_transfer centre -> assigned
assigned deny_transfer centre -> assigned
accepted deny_transfer centre -> accepted
in_progress deny_transfer centre -> in_progress
accepted request_extension lead -> accepted
in_progress request_extension lead -> in_progress
accepted approve_extension centre -> accepted
in_progress approve_extension centre -> in_progress
accepted deny_extension centre -> accepted
in_progress deny_extension centre -> in_progress
assigned add_support centre lead -> assigned
accepted add_support centre lead -> accepted
in_progress add_support centre lead -> in_progress
received comment centre lead support -> received
assigned comment centre lead support -> assigned
accepted comment centre lead support -> accepted
in_progress comment centre lead support -> in_progress
resolved comment centre lead support -> resolved
closed comment centre lead support -> closed
rejected comment centre lead support -> rejected
duplicate comment centre lead support -> duplicate
assigned complete_task support -> assigned
accepted complete_task support -> accepted
in_progress complete_task support -> in_progress
resolved confirm citizen -> closed
resolved reopen citizen -> assigned
closed reopen citizen -> assigned
resolved rate citizen -> resolved
closed rate citizen -> closed
resolved auto_close system -> closed
`

func TestWorkflowEveryTransition(t *testing.T) {
	type key struct{ status, action string }
	allowed := map[key]struct {
		parties []string
		to      string
	}{}
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		left, to, _ := strings.Cut(line, " -> ")
		f := strings.Fields(left)
		allowed[key{f[0], f[1]}] = struct {
			parties []string
			to      string
		}{f[2:], to}
	}
	parties := []string{PartyCentre, PartyLead, PartySupport, PartyCitizen, PartySystem}
	checked := 0
	for _, status := range Statuses {
		for _, action := range Actions() {
			want, ok := allowed[key{status, action}]
			for _, party := range parties {
				got, err := Transition(status, action, party)
				checked++
				switch {
				case !ok:
					if ErrorCode(err) != ECONFLICT {
						t.Errorf("%s %s by %s = %q, %v; want a conflict", status, action, party, got, err)
					}
				case oneOf(party, want.parties):
					if err != nil || got != want.to {
						t.Errorf("%s %s by %s = %q, %v; want %q", status, action, party, got, err, want.to)
					}
				default:
					if ErrorCode(err) != EFORBIDDEN {
						t.Errorf("%s %s by %s = %q, %v; want forbidden", status, action, party, got, err)
					}
				}
			}
		}
	}
	if want := len(Statuses) * len(Actions()) * len(parties); checked != want {
		t.Fatalf("checked %d combinations, want %d", checked, want)
	}
	// Every action of the spec exists, and no action exists outside it.
	inSpec := map[string]bool{}
	for k := range allowed {
		inSpec[k.action] = true
	}
	for _, a := range Actions() {
		if !inSpec[a] {
			t.Errorf("action %s is not in the spec", a)
		}
	}
}

func TestTransitionErrors(t *testing.T) {
	_, err := Transition(StatusReceived, "explode", PartyCentre)
	if ErrorCode(err) != EINVALID || !strings.Contains(fmt.Sprint(ErrorFields(err)), "assign") {
		t.Errorf("unknown action: %v", err)
	}
	_, err = Transition(StatusClosed, ActResolve, PartyLead)
	if ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "allowed: comment, reopen, rate") &&
		!strings.Contains(err.Error(), "allowed: comment, rate, reopen") {
		t.Errorf("resolve a closed report: %v; want the allowed actions named", err)
	}
	if got := AllowedActions(StatusResolved, PartyCitizen); strings.Join(got, ",") != "confirm,rate,reopen" {
		t.Errorf("citizen actions on a resolved report = %v", got)
	}
}
