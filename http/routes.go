package http

import (
	P "github.com/cityops/cityops"
)

// registerRoutes is the route table: one line per route, grouped by
// surface and entity, each with the permission it needs.
func (s *Server) registerRoutes() {
	// Operations.
	s.route("GET /healthz", P.PermPublic, s.handleHealthz)
	s.route("GET /readyz", P.PermPublic, s.handleReadyz)
	s.route("GET /metrics", P.PermPublic, s.handleMetrics)
	s.route("GET /static/{hash}/{path...}", P.PermPublic, s.handleStatic)

	// API: the city's organisation. Areas, sectors and categories are
	// public information (the public report form needs them).
	s.route("GET /api/v1/areas", P.PermPublic, s.handleAreaIndex)
	s.route("GET /api/v1/areas.geojson", P.PermPublic, s.handleAreaGeoJSON)
	s.route("GET /api/v1/areas/{code}", P.PermPublic, s.handleAreaView)
	s.route("POST /api/v1/areas", P.PermOrgWrite, s.handleAreaCreate)
	s.route("PATCH /api/v1/areas/{code}", P.PermOrgWrite, s.handleAreaUpdate)
	s.route("DELETE /api/v1/areas/{code}", P.PermOrgWrite, s.handleAreaDelete)
	s.route("GET /api/v1/locate", P.PermPublic, s.handleLocate)

	s.route("GET /api/v1/sectors", P.PermPublic, s.handleSectorIndex)
	s.route("GET /api/v1/sectors/{code}", P.PermPublic, s.handleSectorView)
	s.route("POST /api/v1/sectors", P.PermOrgWrite, s.handleSectorCreate)
	s.route("PATCH /api/v1/sectors/{code}", P.PermOrgWrite, s.handleSectorUpdate)
	s.route("DELETE /api/v1/sectors/{code}", P.PermOrgWrite, s.handleSectorDelete)

	s.route("GET /api/v1/categories", P.PermPublic, s.handleCategoryIndex)
	s.route("GET /api/v1/categories/{code}", P.PermPublic, s.handleCategoryView)
	s.route("POST /api/v1/categories", P.PermOrgWrite, s.handleCategoryCreate)
	s.route("PATCH /api/v1/categories/{code}", P.PermOrgWrite, s.handleCategoryUpdate)

	s.route("GET /api/v1/agencies", P.PermOrgRead, s.handleAgencyIndex)
	s.route("GET /api/v1/agencies/{code}", P.PermOrgRead, s.handleAgencyView)
	s.route("POST /api/v1/agencies", P.PermOrgWrite, s.handleAgencyCreate)
	s.route("PATCH /api/v1/agencies/{code}", P.PermOrgWrite, s.handleAgencyUpdate)
	s.route("DELETE /api/v1/agencies/{code}", P.PermOrgWrite, s.handleAgencyDelete)

	s.route("GET /api/v1/routing-rules", P.PermOrgRead, s.handleRoutingRuleIndex)
	s.route("POST /api/v1/routing-rules", P.PermOrgWrite, s.handleRoutingRuleCreate)
	s.route("DELETE /api/v1/routing-rules/{id}", P.PermOrgWrite, s.handleRoutingRuleDelete)

	// API: field reports. Anyone may report and follow a report; what a
	// viewer sees of it and may do to it depends on who they are.
	s.route("POST /api/v1/photos", P.PermPublic, s.handlePhotoUpload)
	s.route("GET /media/{file}", P.PermPublic, s.handleMedia)
	s.route("POST /api/v1/reports", P.PermPublic, s.handleReportCreate)
	s.route("GET /api/v1/reports", P.PermReportsRead, s.handleReportIndex)
	s.route("GET /api/v1/reports/nearby", P.PermPublic, s.handleReportNearby)
	s.route("GET /api/v1/reports/{tracking}", P.PermPublic, s.handleReportView)
	s.route("POST /api/v1/reports/{tracking}/actions", P.PermPublic, s.handleReportAct)

	s.route("GET /api/v1/stream", P.PermReportsRead, s.handleStream)
	s.route("GET /api/v1/webhooks", P.PermOrgWrite, s.handleWebhookIndex)
	s.route("POST /api/v1/webhooks", P.PermOrgWrite, s.handleWebhookCreate)
	s.route("DELETE /api/v1/webhooks/{id}", P.PermOrgWrite, s.handleWebhookDelete)
	s.route("GET /api/v1/deliveries", P.PermOrgWrite, s.handleDeliveryIndex)

	// Open311 GeoReport v2. Reading is public (without personal data);
	// submitting needs an API key with the open311:write scope.
	s.route("GET /open311/v2/discovery.json", P.PermPublic, s.handleOpen311Discovery)
	s.route("GET /open311/v2/discovery.xml", P.PermPublic, s.handleOpen311Discovery)
	s.route("GET /open311/v2/services.json", P.PermPublic, s.handleOpen311Services)
	s.route("GET /open311/v2/services.xml", P.PermPublic, s.handleOpen311Services)
	s.route("GET /open311/v2/services/{code}", P.PermPublic, s.handleOpen311Definition)
	s.route("GET /open311/v2/requests.json", P.PermPublic, s.handleOpen311Index)
	s.route("GET /open311/v2/requests.xml", P.PermPublic, s.handleOpen311Index)
	s.route("POST /open311/v2/requests.json", P.PermOpen311Write, s.handleOpen311Create)
	s.route("POST /open311/v2/requests.xml", P.PermOpen311Write, s.handleOpen311Create)
	s.route("GET /open311/v2/requests/{id}", P.PermPublic, s.handleOpen311View)
	s.route("GET /open311/v2/tokens/{token}", P.PermPublic, s.handleOpen311Token)
	s.route("GET /open311/v2/servicerequestupdates.json", P.PermPublic, s.handleOpen311Updates)
	s.route("GET /open311/v2/servicerequestupdates.xml", P.PermPublic, s.handleOpen311Updates)
	s.route("POST /open311/v2/servicerequestupdates.json", P.PermOpen311Write, s.handleOpen311PostUpdate)
	s.route("POST /open311/v2/servicerequestupdates.xml", P.PermOpen311Write, s.handleOpen311PostUpdate)

	// NGSI-LD: the city's live data (entities), for staff and for sensors
	// and gateways holding keys with data:read / data:write.
	s.route("POST /ngsi-ld/v1/entities", P.PermDataWrite, s.handleNGSICreate)
	s.route("GET /ngsi-ld/v1/entities", P.PermDataRead, s.handleNGSIQuery)
	s.route("GET /ngsi-ld/v1/entities/{id}", P.PermDataRead, s.handleNGSIRetrieve)
	s.route("PUT /ngsi-ld/v1/entities/{id}", P.PermDataWrite, s.handleNGSIReplace)
	s.route("DELETE /ngsi-ld/v1/entities/{id}", P.PermDataWrite, s.handleNGSIDelete)
	s.route("POST /ngsi-ld/v1/entities/{id}/attrs", P.PermDataWrite, s.handleNGSIAppend)
	s.route("PATCH /ngsi-ld/v1/entities/{id}/attrs", P.PermDataWrite, s.handleNGSIUpdate)
	s.route("DELETE /ngsi-ld/v1/entities/{id}/attrs/{attr}", P.PermDataWrite, s.handleNGSIDeleteAttr)
	s.route("POST /ngsi-ld/v1/entityOperations/{op}", P.PermDataWrite, s.handleNGSIBatch)
	s.route("GET /ngsi-ld/v1/temporal/entities", P.PermDataRead, s.handleTemporalQuery)
	s.route("GET /ngsi-ld/v1/temporal/entities/{id}", P.PermDataRead, s.handleTemporalRetrieve)
	s.route("POST /ngsi-ld/v1/temporal/entities", P.PermDataWrite, s.handleTemporalCreate)
	s.route("DELETE /ngsi-ld/v1/temporal/entities/{id}", P.PermDataWrite, s.handleNGSIDelete)
	s.route("POST /ngsi-ld/v1/temporal/entities/{id}/attrs", P.PermDataWrite, s.handleTemporalAppend)
	s.route("DELETE /ngsi-ld/v1/temporal/entities/{id}/attrs/{attr}", P.PermDataWrite, s.handleTemporalDeleteAttr)
	s.route("PATCH /ngsi-ld/v1/temporal/entities/{id}/attrs/{attr}/{instance}", P.PermDataWrite, s.handleTemporalPatchInstance)
	s.route("DELETE /ngsi-ld/v1/temporal/entities/{id}/attrs/{attr}/{instance}", P.PermDataWrite, s.handleTemporalDeleteInstance)
	s.route("POST /api/v1/observations", P.PermDataWrite, s.handleObservations)
	s.route("GET /api/v1/retention", P.PermDataRead, s.handleRetentionIndex)
	s.route("PUT /api/v1/retention", P.PermDataWrite, s.handleRetentionSet)
	s.route("DELETE /api/v1/retention", P.PermDataWrite, s.handleRetentionDelete)
	s.route("GET /ngsi-ld/v1/types", P.PermDataRead, s.handleNGSITypes)
	s.route("GET /api/v1/devices", P.PermDataRead, s.handleDeviceIndex)
	s.route("POST /api/v1/devices", P.PermDataWrite, s.handleDeviceCreate)
	s.route("DELETE /api/v1/devices/{key}/{id}", P.PermDataWrite, s.handleDeviceDelete)
	s.route("POST /api/v1/devices/{key}/{id}/attrs", P.PermDataWrite, s.handleDeviceMeasure)
	s.route("GET /ngsi-ld/v1/attributes", P.PermDataRead, s.handleNGSIAttributes)
	s.route("POST /ngsi-ld/v1/subscriptions", P.PermDataWrite, s.handleSubscriptionCreate)
	s.route("GET /ngsi-ld/v1/subscriptions", P.PermDataRead, s.handleSubscriptionIndex)
	s.route("GET /ngsi-ld/v1/subscriptions/{id}", P.PermDataRead, s.handleSubscriptionView)
	s.route("PATCH /ngsi-ld/v1/subscriptions/{id}", P.PermDataWrite, s.handleSubscriptionUpdate)
	s.route("DELETE /ngsi-ld/v1/subscriptions/{id}", P.PermDataWrite, s.handleSubscriptionDelete)

	// API: the operations centre. Alarm rules are read by whoever reads
	// alarms and written by administrators; warnings in force are public.
	s.route("GET /api/v1/alarm-rules", P.PermAlarmsRead, s.handleRuleIndex)
	s.route("POST /api/v1/alarm-rules.csv", P.PermRulesWrite, s.handleRuleImport)
	s.route("GET /api/v1/alarm-rules/{code}", P.PermAlarmsRead, s.handleRuleView)
	s.route("PUT /api/v1/alarm-rules/{code}", P.PermRulesWrite, s.handleRuleSave)
	s.route("DELETE /api/v1/alarm-rules/{code}", P.PermRulesWrite, s.handleRuleDelete)
	s.route("GET /api/v1/alarms", P.PermAlarmsRead, s.handleAlarmIndex)
	s.route("GET /api/v1/alarms/{id}", P.PermAlarmsRead, s.handleAlarmView)
	s.route("GET /api/v1/alarms/{id}/readings", P.PermAlarmsRead, s.handleAlarmReadings)
	s.route("POST /api/v1/alarms/{id}/actions", P.PermAlarmsAct, s.handleAlarmAct)
	s.route("GET /api/v1/warnings", P.PermPublic, s.handleWarningIndex)
	s.route("POST /api/v1/warnings", P.PermWarningsWrite, s.handleWarningCreate)
	s.route("POST /api/v1/warnings/{id}/withdraw", P.PermWarningsWrite, s.handleWarningWithdraw)

	s.route("GET /api/v1/ioc/summary", P.PermIOC, s.handleIOCSummary)
	s.route("GET /api/v1/ioc/breakdown", P.PermIOC, s.handleIOCBreakdown)
	s.route("GET /api/v1/ioc/cases.geojson", P.PermIOC, s.handleIOCCases)
	s.route("GET /api/v1/ioc/heat", P.PermIOC, s.handleIOCHeat)
	s.route("GET /api/v1/ioc/sensors.geojson", P.PermIOC, s.handleIOCSensors)
	s.route("GET /api/v1/ioc/sectors", P.PermIOC, s.handleIOCSectors)
	s.route("GET /api/v1/ioc/series", P.PermIOC, s.handleIOCSeries)
	s.route("GET /api/v1/ioc/stream", P.PermIOC, s.handleIOCStream)

	// API: staff accounts and machine clients.
	s.route("GET /api/v1/me", P.PermStaff, s.handleMe)
	s.route("GET /api/v1/users", P.PermUsersRead, s.handleUserIndex)
	s.route("GET /api/v1/users/{id}", P.PermUsersRead, s.handleUserView)
	s.route("POST /api/v1/users", P.PermUsersWrite, s.handleUserCreate)
	s.route("PATCH /api/v1/users/{id}", P.PermUsersWrite, s.handleUserUpdate)
	s.route("PUT /api/v1/users/{id}/password", P.PermUsersWrite, s.handleUserPassword)

	s.route("GET /api/v1/apikeys", P.PermAPIKeysManage, s.handleAPIKeyIndex)
	s.route("POST /api/v1/apikeys", P.PermAPIKeysManage, s.handleAPIKeyCreate)
	s.route("DELETE /api/v1/apikeys/{id}", P.PermAPIKeysManage, s.handleAPIKeyRevoke)

	// Public web pages: report, follow a report.
	s.route("GET /{$}", P.PermPublic, s.handleRoot)
	s.route("GET /report", P.PermPublic, s.handleReportForm)
	s.route("POST /report", P.PermPublic, s.handleReportSubmit)
	s.route("GET /reports", P.PermPublic, s.handlePublicReports)
	s.route("GET /stats", P.PermPublic, s.handleStatsPage)
	s.route("GET /api/v1/stats", P.PermPublic, s.handleStatsAPI)
	s.route("GET /r", P.PermPublic, s.handleStatusLookup)
	s.route("GET /r/{tracking}", P.PermPublic, s.handleStatusPage)
	s.route("POST /r/{tracking}", P.PermPublic, s.handleStatusAct)

	// Staff web pages.
	s.route("GET /login", P.PermPublic, s.handleLoginPage)
	s.route("POST /login", P.PermPublic, s.handleLogin)
	s.route("POST /logout", P.PermPublic, s.handleLogout)
	s.route("GET /staff", P.PermStaff, s.handleStaffHome)
	s.route("GET /ioc", P.PermIOC, s.handleIOCPage)
	s.route("GET /staff/reports", P.PermReportsRead, s.handleInbox)
	s.route("POST /staff/reports/assign", P.PermReportsRead, s.handleBulkAssign)
	s.route("GET /staff/reports/{tracking}", P.PermReportsRead, s.handleCase)
	s.route("POST /staff/reports/{tracking}/act", P.PermReportsRead, s.handleCaseAct)
	s.route("GET /staff/routing", P.PermOrgRead, s.handleRoutingPage)
	s.route("POST /staff/routing", P.PermOrgWrite, s.handleRoutingAdd)
	s.route("POST /staff/routing/{id}/delete", P.PermOrgWrite, s.handleRoutingDelete)
	s.route("GET /staff/areas", P.PermOrgRead, s.handlePageAreas)
	s.route("GET /staff/areas/{code}", P.PermOrgRead, s.handlePageArea)
	s.route("GET /staff/agencies", P.PermOrgRead, s.handlePageAgencies)
	s.route("GET /staff/agencies/{code}", P.PermOrgRead, s.handlePageAgency)
	s.route("GET /staff/users", P.PermUsersRead, s.handlePageUsers)
	s.route("GET /staff/users/new", P.PermUsersWrite, s.handleUserNew)
	s.route("POST /staff/users", P.PermUsersWrite, s.handleUserAdd)
	s.route("GET /ioc/kpi", P.PermIOC, s.handleKPIPage)
	s.route("GET /ioc/kpi.xlsx", P.PermIOC, s.handleKPIExport)
	s.route("GET /ioc/kpi.csv", P.PermIOC, s.handleKPIExport)
	s.route("GET /ioc/weekly", P.PermIOC, s.handleWeekly)
}
