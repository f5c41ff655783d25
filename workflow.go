package cityops

import (
	"sort"
	"strings"
)

// Workflow actions. Each is allowed from some statuses, to some parties,
// and leads to one status ("" keeps the status).
const (
	ActAssign           = "assign"            // the centre routes the report to a lead agency
	ActAccept           = "accept"            // the lead agency takes it on
	ActStart            = "start"             // work starts
	ActResolve          = "resolve"           // done, with the public answer
	ActDecline          = "decline"           // not our responsibility: back to the centre's triage
	ActReject           = "reject"            // invalid report, closed with a reason
	ActMarkDuplicate    = "mark_duplicate"    // merged into another report
	ActRequestTransfer  = "request_transfer"  // the lead agency asks to hand it to another
	ActApproveTransfer  = "approve_transfer"  // the centre agrees: the other agency becomes lead
	ActDenyTransfer     = "deny_transfer"     // the centre refuses
	ActRequestExtension = "request_extension" // the lead agency asks for a later deadline
	ActApproveExtension = "approve_extension" // the centre agrees
	ActDenyExtension    = "deny_extension"    // the centre refuses
	ActAddSupport       = "add_support"       // a supporting agency joins, with its own task
	ActCompleteTask     = "complete_task"     // a supporting agency reports its task done
	ActComment          = "comment"           // an internal note
	ActConfirm          = "confirm"           // the citizen confirms the result
	ActReopen           = "reopen"            // the citizen says it is not solved
	ActRate             = "rate"              // the citizen rates the handling 1–5
	ActAutoClose        = "auto_close"        // the confirmation period ended
)

// Parties that may act on a report.
const (
	PartyCentre  = "centre"  // operations-centre operators and administrators
	PartyLead    = "lead"    // staff of the lead agency
	PartySupport = "support" // staff of a supporting agency
	PartyCitizen = "citizen" // the reporter, proven by their token
	PartySystem  = "system"  // the program itself (timers)
)

type transition struct {
	from []string // allowed statuses
	to   string   // resulting status; "" keeps it
	by   []string // parties allowed
}

var (
	openStates    = []string{StatusReceived, StatusAssigned, StatusAccepted, StatusInProgress}
	workingStates = []string{StatusAssigned, StatusAccepted, StatusInProgress}
	centre        = []string{PartyCentre}
	lead          = []string{PartyLead}
	centreOrLead  = []string{PartyCentre, PartyLead}
	staffParties  = []string{PartyCentre, PartyLead, PartySupport}
	citizen       = []string{PartyCitizen}
)

// workflow is the state machine, as data: the one place that says which
// action may happen when, and by whom.
var workflow = map[string]transition{
	ActAssign:           {[]string{StatusReceived, StatusAssigned}, StatusAssigned, centre},
	ActAccept:           {[]string{StatusAssigned}, StatusAccepted, lead},
	ActStart:            {[]string{StatusAccepted}, StatusInProgress, lead},
	ActResolve:          {[]string{StatusAccepted, StatusInProgress}, StatusResolved, lead},
	ActDecline:          {workingStates, StatusReceived, lead},
	ActReject:           {openStates, StatusRejected, centre},
	ActMarkDuplicate:    {openStates, StatusDuplicate, centreOrLead},
	ActRequestTransfer:  {workingStates, "", lead},
	ActApproveTransfer:  {workingStates, StatusAssigned, centre},
	ActDenyTransfer:     {workingStates, "", centre},
	ActRequestExtension: {[]string{StatusAccepted, StatusInProgress}, "", lead},
	ActApproveExtension: {[]string{StatusAccepted, StatusInProgress}, "", centre},
	ActDenyExtension:    {[]string{StatusAccepted, StatusInProgress}, "", centre},
	ActAddSupport:       {workingStates, "", centreOrLead},
	ActCompleteTask:     {workingStates, "", []string{PartySupport}},
	ActComment:          {Statuses, "", staffParties},
	ActConfirm:          {[]string{StatusResolved}, StatusClosed, citizen},
	ActReopen:           {[]string{StatusResolved, StatusClosed}, StatusAssigned, citizen},
	ActRate:             {[]string{StatusResolved, StatusClosed}, "", citizen},
	ActAutoClose:        {[]string{StatusResolved}, StatusClosed, []string{PartySystem}},
}

// Actions lists every workflow action, sorted.
func Actions() []string {
	out := make([]string, 0, len(workflow))
	for a := range workflow {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// AllowedActions lists the actions a party may take on a report in status.
// An empty party lists the actions of every party.
func AllowedActions(status, party string) []string {
	var out []string
	for _, a := range Actions() {
		t := workflow[a]
		if oneOf(status, t.from) && (party == "" || oneOf(party, t.by)) {
			out = append(out, a)
		}
	}
	return out
}

// Transition returns the status after action on a report in status, taken
// by one of parties. An unknown action is EINVALID; an action the status
// does not allow is ECONFLICT naming the allowed ones; an action none of the
// parties may take is EFORBIDDEN.
func Transition(status, action string, parties ...string) (string, error) {
	t, ok := workflow[action]
	if !ok {
		return "", &Error{Code: EINVALID, Message: "invalid input",
			Fields: map[string]string{"action": "must be one of " + strings.Join(Actions(), ", ")}}
	}
	if !oneOf(status, t.from) {
		allowed := AllowedActions(status, "")
		if len(allowed) == 0 {
			return "", Errorf(ECONFLICT, "a %s report allows no action %q", status, action)
		}
		return "", Errorf(ECONFLICT, "a %s report does not allow %q; allowed: %s", status, action, strings.Join(allowed, ", "))
	}
	for _, p := range parties {
		if oneOf(p, t.by) {
			if t.to == "" {
				return status, nil
			}
			return t.to, nil
		}
	}
	return "", Errorf(EFORBIDDEN, "%q is for %s", action, strings.Join(t.by, " or "))
}
