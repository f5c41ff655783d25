// Package simulate produces realistic live data for the Huế demo: air
// quality, river levels, traffic, car parks, monument visitors, hospital
// beds, school attendance and a few city KPIs, as NGSI-LD entities that
// follow the FIWARE Smart Data Models (docs/data-models.md).
//
// Values follow daily, weekly and seasonal rhythms plus smooth noise, are
// reproducible from a seed, and change smoothly from one minute to the
// next, so a dashboard replaying the generator looks alive without looking
// random. The package generates; it does not send anything anywhere.
package simulate
