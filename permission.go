package cityops

import "slices"

// Permission names one thing an actor may do. Every HTTP route declares
// exactly one; API keys are scoped to a list of them.
type Permission string

// The permissions. Later capabilities add their own here.
const (
	PermPublic        Permission = "public"         // anyone, signed in or not
	PermStaff         Permission = "staff"          // any signed-in staff member
	PermOrgRead       Permission = "org:read"       // areas, sectors, agencies, categories
	PermOrgWrite      Permission = "org:write"      // change them
	PermUsersRead     Permission = "users:read"     // list staff accounts
	PermUsersWrite    Permission = "users:write"    // create and change staff accounts
	PermAPIKeysManage Permission = "apikeys:manage" // create, list and revoke API keys
	PermReportsRead   Permission = "reports:read"   // staff inboxes and case pages (scoped)
	PermOpen311Write  Permission = "open311:write"  // submit reports through Open311
	PermDataRead      Permission = "data:read"      // NGSI-LD city data
	PermDataWrite     Permission = "data:write"     // write NGSI-LD city data (sensors, gateways)
	PermIOC           Permission = "ioc:view"       // the operations-centre dashboard and its figures
	PermAlarmsRead    Permission = "alarms:read"    // alarms (scoped like reports)
	PermAlarmsAct     Permission = "alarms:act"     // acknowledge and clear alarms
	PermRulesWrite    Permission = "rules:write"    // edit alarm rules
	PermWarningsWrite Permission = "warnings:write" // broadcast and withdraw public warnings
	PermAuditRead     Permission = "audit:read"     // read, export and verify the audit trail
	PermMetrics       Permission = "metrics:read"   // Prometheus metrics from another machine (the loopback needs none)
	// PermPersonalData exports everything held about one reporter, for a
	// person's request to see their data; administrators only.
	PermPersonalData Permission = "personal:export"
)

// Scopes lists the permissions an API key may be given.
var Scopes = []Permission{PermOrgRead, PermOrgWrite, PermUsersRead, PermUsersWrite, PermReportsRead, PermOpen311Write,
	PermDataRead, PermDataWrite, PermIOC, PermAlarmsRead, PermAlarmsAct, PermRulesWrite, PermWarningsWrite, PermAuditRead,
	PermPersonalData, PermMetrics}

// Roles, from the public up to the administrator.
const (
	RoleCitizen       = "citizen"
	RoleWardOfficer   = "ward_officer"
	RoleAgencyOfficer = "agency_officer"
	RoleAgencyHead    = "agency_head"
	RoleOperator      = "operator" // operations-centre operator
	RoleSteering      = "steering" // steering-board member
	RoleAdmin         = "admin"
)

// Roles lists every role in order of increasing reach.
var Roles = []string{RoleCitizen, RoleWardOfficer, RoleAgencyOfficer, RoleAgencyHead, RoleOperator, RoleSteering, RoleAdmin}

var rolePerms = map[string][]Permission{
	RoleCitizen:       {},
	RoleWardOfficer:   {PermStaff, PermOrgRead, PermReportsRead, PermDataRead, PermAlarmsRead},
	RoleAgencyOfficer: {PermStaff, PermOrgRead, PermReportsRead, PermDataRead, PermAlarmsRead},
	RoleAgencyHead:    {PermStaff, PermOrgRead, PermUsersRead, PermReportsRead, PermDataRead, PermIOC, PermAlarmsRead, PermAlarmsAct},
	RoleOperator: {PermStaff, PermOrgRead, PermUsersRead, PermReportsRead, PermDataRead, PermIOC, PermAlarmsRead, PermAlarmsAct,
		PermWarningsWrite},
	RoleSteering: {PermStaff, PermOrgRead, PermReportsRead, PermDataRead, PermIOC, PermAlarmsRead},
	RoleAdmin: {PermStaff, PermOrgRead, PermOrgWrite, PermUsersRead, PermUsersWrite, PermAPIKeysManage, PermReportsRead, PermDataRead,
		PermDataWrite, PermIOC, PermAlarmsRead, PermAlarmsAct, PermRulesWrite, PermWarningsWrite, PermAuditRead, PermPersonalData,
		PermMetrics},
}

// RoleCan reports whether role grants permission p.
func RoleCan(role string, p Permission) bool {
	if p == PermPublic {
		return true
	}
	return slices.Contains(rolePerms[role], p)
}

// ValidRole reports whether r is a known role.
func ValidRole(r string) bool { return slices.Contains(Roles, r) }

// ValidScope reports whether s may be given to an API key.
func ValidScope(s string) bool { return slices.Contains(Scopes, Permission(s)) }
