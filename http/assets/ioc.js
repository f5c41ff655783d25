// cityops operations centre (/ioc). The page is a frame rendered by the
// server; this script fills it from the /api/v1/ioc endpoints and keeps it
// live with the Server-Sent Events of /api/v1/ioc/stream. Plain JS with
// Leaflet (the ward boundaries are the basemap, so no tile server is
// needed) and uPlot; no inline code, as the CSP wants.
"use strict";

(function () {
  const ZONE = "Asia/Ho_Chi_Minh";
  const LEVEL_COLOURS = { normal: "#2e7d32", warning: "#f2c200", minor: "#ef7d00", major: "#d32f2f", critical: "#6a1b9a" };
  const CASE_COLOURS = { overdue: "#b3261e", received: "#9a5b00", handling: "#2f6f9f" };
  const LINE_COLOURS = ["#7a1f3d", "#2f6f9f", "#3b8b5a", "#b7791f", "#6b4c9a", "#2c7a7b", "#d0567a", "#8a6d3b", "#4f7cac", "#9c4f2f", "#5a8f29", "#a23b72"];
  const SEVERITY_RANK = { critical: 4, major: 3, minor: 2, warning: 1 };
  const HOURS = 24; // the charts' window
  const STEP = 60; // minutes per point of the charts' history

  let cfg, root, map, basemap, layers, live;
  const sensors = new Map(); // entity id → {props, marker, row}
  const alarms = new Map(); // alarm id → alarm (every open alarm in the viewer's scope)
  const alarmMarkers = new Map(); // alarm id → Leaflet marker
  const charts = []; // {el, key, type, attr, unit, ids, xs, ys, u}
  const warnings = new Map(); // warning id → warning

  // Texts and formats.

  function t(key, ...args) {
    let msg = (cfg.t && cfg.t[key]) || key;
    for (const a of args) msg = msg.replace(/%[sd]/, String(a));
    return msg;
  }
  function locale() { return cfg.lang === "vi" ? "vi-VN" : cfg.lang; }
  function num(v, digits) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits === undefined ? 1 : digits }).format(v);
  }
  function time(v) {
    const d = v instanceof Date ? v : new Date(v);
    if (Number.isNaN(d.getTime())) return "—";
    return new Intl.DateTimeFormat(locale(), { timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(d);
  }
  function dateTime(v) {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return "—";
    return new Intl.DateTimeFormat(locale(), { timeZone: ZONE, day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }).format(d);
  }
  function name(prefix, code) { return (cfg.names && cfg.names[prefix + ":" + code]) || code || "—"; }
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "href" || k === "title" || k === "type" || k === "role") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  function levelLabel(level) { return level === "normal" ? t("ioc.level.normal") : t("ioc.severity." + level); }
  function badge(level) { return el("span", { class: "sev-badge sev-" + level, text: levelLabel(level) }); }

  // The filter in the URL applies to every figure.
  function filterQuery(extra) {
    const q = new URLSearchParams();
    if (cfg.sector) q.set("sector", cfg.sector);
    if (cfg.area) q.set("area", cfg.area);
    if (cfg.days) q.set("days", String(cfg.days));
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  }
  function inbox(params) {
    const q = new URLSearchParams(params);
    if (cfg.sector && !q.has("sector")) q.set("sector", cfg.sector);
    if (cfg.area && !q.has("area")) q.set("area", cfg.area);
    return "/staff/reports?" + q.toString();
  }
  function inArea(code, within) {
    for (let i = 0; code && i < 12; i++) {
      if (code === within) return true;
      code = cfg.parents[code];
    }
    return false;
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(await errorText(res));
    return res.json();
  }
  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error.message || body.error.code;
    } catch (e) { /* not JSON */ }
    return "HTTP " + res.status;
  }
  async function postJSON(url, body) {
    const res = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { /* empty */ }
    return { ok: res.ok, status: res.status, data };
  }
  function debounce(fn, ms) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
  function report(where, err) {
    // A failed part of the page says so where it is, and the rest goes on.
    if (where) where.replaceChildren(el("span", { class: "bad", text: t("ioc.error", err.message || String(err)) }));
    if (window.console) console.error(err);
  }

  // The map.

  async function drawMap() {
    const mapEl = document.getElementById("ioc-map");
    map = L.map(mapEl, { zoomSnap: 0.25, zoomControl: false });
    L.control.zoom({ zoomInTitle: t("ioc.zoom.in"), zoomOutTitle: t("ioc.zoom.out") }).addTo(map);
    mapEl.leafletMap = map; // for the browser tests
    map.attributionControl.setPrefix(false);
    if (mapEl.dataset.tiles) L.tileLayer(mapEl.dataset.tiles, { maxZoom: 19 }).addTo(map);
    map.createPane("heat").style.zIndex = 420;
    map.createPane("points").style.zIndex = 450;
    layers = {
      cases: L.layerGroup().addTo(map),
      sensors: L.layerGroup().addTo(map),
      alarms: L.layerGroup().addTo(map),
      heat: L.layerGroup(),
    };
    const overlays = {};
    overlays[t("ioc.layer.cases")] = layers.cases;
    overlays[t("ioc.layer.sensors")] = layers.sensors;
    overlays[t("ioc.layer.alarms")] = layers.alarms;
    overlays[t("ioc.layer.heat")] = layers.heat;
    const control = L.control.layers(null, overlays, { collapsed: !!cfg.wall }).addTo(map);
    const toggle = control.getContainer().querySelector(".leaflet-control-layers-toggle");
    if (toggle) {
      toggle.title = t("ioc.layers");
      toggle.setAttribute("aria-label", t("ioc.layers"));
    }

    const data = await getJSON(mapEl.dataset.geojson);
    data.features.sort((a, b) => a.properties.depth - b.properties.depth);
    let focus = null;
    const base = L.geoJSON(data, {
      style: (f) => {
        const dark = !!cfg.wall;
        const hit = cfg.area && f.properties.code === cfg.area;
        if (f.properties.depth === 0) return { color: dark ? "#8fa3b5" : "#33404d", weight: 2, fillOpacity: 0.02, fillColor: "#fff" };
        return { color: hit ? "#7a1f3d" : (dark ? "#4a5d70" : "#8795a3"), weight: hit ? 3 : 1,
          fillColor: dark ? "#22303d" : "#eef2f5", fillOpacity: 0.7, dashArray: f.properties.approximate ? "4 3" : null };
      },
      onEachFeature: (f, l) => {
        l.bindTooltip(f.properties.name, { sticky: true });
        if (cfg.area && f.properties.code === cfg.area) focus = l;
      },
    }).addTo(map);
    basemap = base;
    const bounds = (focus || base).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    else map.setView([16.46, 107.59], 11);
    // A click on the map (not on a marker) offers to open a case there.
    map.on("click", (e) => {
      const link = caseLink(e.latlng, "");
      if (link) L.popup().setLatLng(e.latlng).setContent(el("div", { class: "ioc-popup" }, link)).openOn(map);
    });
    mapEl.dataset.features = String(data.features.length);
    mapEl.classList.add("drawn");
  }

  // Sensors: a circle per station coloured by its level, in the map and
  // in the table.

  async function loadSensors() {
    const fc = await getJSON("/api/v1/ioc/sensors.geojson?" + filterQuery());
    layers.sensors.clearLayers();
    sensors.clear();
    const tbody = document.querySelector("#ioc-sensor-table tbody");
    tbody.replaceChildren();
    fc.features.sort((a, b) => (a.properties.sector + a.properties.name).localeCompare(b.properties.sector + b.properties.name, locale()));
    for (const f of fc.features) {
      const p = f.properties;
      const [lon, lat] = f.geometry.coordinates;
      const s = { props: p, latlng: L.latLng(lat, lon) };
      s.marker = L.circleMarker(s.latlng, { pane: "points", radius: 7, color: "#fff", weight: 2, fillOpacity: 0.95 })
        .bindPopup(() => sensorPopup(s))
        .bindTooltip(() => p.name + " · " + sensorValue(p))
        .addTo(layers.sensors);
      s.row = el("tr", { "data-id": p.id });
      tbody.append(s.row);
      sensors.set(p.id, s);
      drawSensor(s, false);
    }
    if (!fc.features.length) tbody.append(el("tr", {}, el("td", { colSpan: 5, class: "muted", text: t("ioc.sensors.none") })));
    document.getElementById("ioc-sensor-count").textContent = "(" + fc.features.length + ")";
    document.getElementById("ioc-map").dataset.sensors = String(fc.features.length);
    applyLevels();
  }

  function sensorValue(p) {
    if (p.value === null || p.value === undefined) return "—";
    return num(p.value, 1) + (p.unit ? " " + p.unit : "");
  }

  function sensorPopup(s) {
    const p = s.props;
    return el("div", { class: "ioc-popup" },
      el("span", { class: "title", text: p.name }),
      el("span", { class: "value", text: sensorValue(p), "data-value": p.value === null ? "" : String(p.value) }),
      el("span", {}, badge(p.level)),
      el("span", { class: "muted", text: name("s", p.sector) + " · " + p.attr }),
      el("span", { class: "muted", text: t("ioc.sensor.updated", dateTime(p.modified_at)) }),
      caseLink(s.latlng, p.name + ": " + p.attr + " = " + sensorValue(p) + " (" + dateTime(p.modified_at) + ")"));
  }

  // caseLink opens the operator's report form at a point, with a first
  // description (a reading), to turn what the centre sees into a case.
  function caseLink(latlng, description) {
    if (!cfg.can_report || cfg.wall) return "";
    const q = new URLSearchParams({ lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6), channel: "hotline" });
    if (description) q.set("description", description);
    return el("a", { class: "ioc-case-link", href: "/report?" + q.toString(), text: t("ioc.case.open") });
  }

  // drawSensor brings a sensor's marker and row up to date.
  function drawSensor(s, flash) {
    const p = s.props;
    const rank = SEVERITY_RANK[p.level] || 0;
    s.marker.setStyle({ fillColor: LEVEL_COLOURS[p.level] || LEVEL_COLOURS.normal, radius: 7 + rank * 1.5, color: rank ? "#222" : "#fff" });
    if (s.marker.isPopupOpen()) s.marker.setPopupContent(sensorPopup(s));
    const zoom = el("button", { type: "button", class: "linklike", text: p.name });
    zoom.addEventListener("click", () => {
      map.setView(s.latlng, Math.max(map.getZoom(), 15));
      s.marker.openPopup();
      document.getElementById("ioc-map").scrollIntoView({ behavior: "smooth", block: "center" });
    });
    s.row.dataset.level = p.level;
    s.row.replaceChildren(
      el("td", {}, zoom),
      el("td", { text: name("s", p.sector) }),
      el("td", { class: "value", "data-value": p.value === null || p.value === undefined ? "" : String(p.value), text: sensorValue(p) }),
      el("td", {}, badge(p.level)),
      el("td", { text: dateTime(p.modified_at) }));
    if (flash) {
      s.row.classList.remove("flash");
      void s.row.offsetWidth; // restart the animation
      s.row.classList.add("flash");
    }
  }

  // Open cases: coloured by state, overdue first.

  async function loadCases() {
    const fc = await getJSON("/api/v1/ioc/cases.geojson?" + filterQuery());
    layers.cases.clearLayers();
    for (const f of fc.features) {
      const p = f.properties;
      const kind = p.overdue ? "overdue" : p.status === "received" ? "received" : "handling";
      const [lon, lat] = f.geometry.coordinates;
      L.circleMarker([lat, lon], { pane: "points", radius: p.urgent ? 7 : 5, color: p.urgent ? "#000" : "#fff", weight: p.urgent ? 2 : 1,
        fillColor: CASE_COLOURS[kind], fillOpacity: 0.9 })
        .bindTooltip(p.tracking + " · " + name("c", p.category))
        .bindPopup(() => el("div", { class: "ioc-popup" },
          el("span", { class: "title", text: p.tracking + (p.urgent ? " · " + t("ioc.case.urgent") : "") }),
          el("span", { text: name("c", p.category) }),
          el("span", {}, el("span", { class: "status-badge status-" + p.status, text: t("status." + p.status) })),
          p.agency ? el("span", { class: "muted", text: t("status.agency") + ": " + name("a", p.agency) }) : null,
          p.due_at ? el("span", { class: p.overdue ? "bad" : "muted", text: t("status.due") + ": " + dateTime(p.due_at) + (p.overdue ? " · " + t("ioc.case.overdue") : "") }) : null,
          el("a", { href: "/staff/reports/" + encodeURIComponent(p.tracking), text: t("ioc.case.open") })))
        .addTo(layers.cases);
    }
    document.getElementById("ioc-map").dataset.cases = String(fc.features.length);
  }

  // The heat of reports: a square per grid cell, darker where more came.

  async function loadHeat() {
    const cell = 0.005;
    const data = await getJSON("/api/v1/ioc/heat?" + filterQuery({ cell: String(cell) }));
    layers.heat.clearLayers();
    const max = data.items.reduce((m, c) => Math.max(m, c.count), 1);
    for (const c of data.items) {
      const h = cell / 2;
      L.rectangle([[c.lat - h, c.lon - h], [c.lat + h, c.lon + h]], {
        pane: "heat", weight: 0, fillColor: "#e65100", fillOpacity: 0.15 + 0.6 * (c.count / max),
      }).bindTooltip(t("ioc.heat.count", num(c.count, 0))).addTo(layers.heat);
    }
  }

  // Alarms: the list, the markers, the counts and the sensors' levels.

  async function loadAlarms() {
    const data = await getJSON("/api/v1/alarms?open=true&limit=1000");
    alarms.clear();
    for (const a of data.items) alarms.set(a.id, a);
    drawAlarms();
  }

  function shown(a) {
    return (!cfg.sector || a.sector === cfg.sector) && (!cfg.area || inArea(a.area, cfg.area));
  }

  function alarmUpdate(a) {
    if (a.status === "cleared") alarms.delete(a.id);
    else alarms.set(a.id, Object.assign(alarms.get(a.id) || {}, a));
    drawAlarms();
  }

  function alarmNode(a, inPopup) {
    const s = sensors.get(a.entity_id);
    const what = s ? s.props.name : a.entity_id.replace(/^urn:ngsi-ld:/, "");
    const meta = [a.rule_name, what];
    if (a.area) meta.push(name("w", a.area));
    meta.push(t("ioc.alarm.raised", dateTime(a.raised_at)));
    if (a.count > 1) meta.push(t("ioc.alarm.count", a.count));
    const node = el(inPopup ? "div" : "li", { class: (inPopup ? "ioc-popup " : "") + "sev-" + a.severity + " " + a.status, "data-alarm": String(a.id) },
      el("span", {}, badge(a.severity), " ", el("span", { class: "muted", text: t("ioc.alarm.status." + a.status) })),
      el("span", { class: "msg", text: a.message || a.rule_name }),
      el("span", { class: "meta", text: meta.join(" · ") }));
    const actions = el("span", { class: "actions" });
    if (a.report) actions.append(el("a", { href: "/staff/reports/" + encodeURIComponent(a.report), text: t("ioc.alarm.case", a.report) }));
    if (cfg.can_act) {
      if (a.status === "active") actions.append(actButton(a, "acknowledge", node));
      actions.append(actButton(a, "clear", node));
    }
    if (actions.childNodes.length) node.append(actions);
    return node;
  }

  function actButton(a, action, node) {
    const b = el("button", { type: "button", class: "secondary", text: t("ioc.alarm." + action), "data-act": action });
    b.addEventListener("click", async () => {
      const note = window.prompt(t("ioc.alarm.note"), "");
      if (note === null) return;
      b.disabled = true;
      const res = await postJSON("/api/v1/alarms/" + a.id + "/actions", { action, note });
      if (res.ok) {
        alarmUpdate(res.data);
        return;
      }
      b.disabled = false;
      const msg = res.data && res.data.error ? res.data.error.message : "HTTP " + res.status;
      node.append(el("span", { class: "error", role: "alert", text: t("ioc.alarm.failed", msg) }));
    });
    return b;
  }

  function drawAlarms() {
    const list = [...alarms.values()].filter(shown).sort((a, b) => (b.raised_at || "").localeCompare(a.raised_at || "") || b.id - a.id);
    const ol = document.getElementById("ioc-alarm-list");
    ol.replaceChildren(...list.map((a) => alarmNode(a, false)));
    document.getElementById("ioc-alarms-empty").hidden = list.length > 0;
    document.getElementById("ioc-alarm-count").textContent = "(" + list.length + ")";
    // The tile.
    const bySev = {};
    for (const a of list) bySev[a.severity] = (bySev[a.severity] || 0) + 1;
    document.querySelector('[data-fig="alarms"]').textContent = num(list.length, 0);
    document.querySelectorAll("[data-sev]").forEach((e) => { e.textContent = num(bySev[e.dataset.sev] || 0, 0); });
    // Per sector, whatever the filter.
    const bySector = {};
    for (const a of alarms.values()) bySector[a.sector] = (bySector[a.sector] || 0) + 1;
    document.querySelectorAll("[data-sector-alarms]").forEach((e) => {
      const n = bySector[e.dataset.sectorAlarms] || 0;
      e.hidden = n === 0;
      e.replaceChildren(el("span", { class: "sev-badge sev-major", text: num(n, 0) + " " + t("ioc.layer.alarms").toLowerCase() }));
    });
    // The markers.
    for (const [id, m] of alarmMarkers) {
      if (!alarms.has(id) || !shown(alarms.get(id))) {
        layers.alarms.removeLayer(m);
        alarmMarkers.delete(id);
      }
    }
    for (const a of list) {
      let lat = a.lat, lon = a.lon;
      if ((lat === undefined || lon === undefined) && sensors.has(a.entity_id)) ({ lat, lng: lon } = sensors.get(a.entity_id).latlng);
      if (lat === undefined || lon === undefined) continue;
      let m = alarmMarkers.get(a.id);
      const size = cfg.wall ? 32 : 22;
      const icon = L.divIcon({ className: "ioc-alarm-icon sev-" + a.severity, html: "!", iconSize: [size, size] });
      if (!m) {
        m = L.marker([lat, lon], { icon, title: levelLabel(a.severity) + ": " + (a.message || a.rule_name), zIndexOffset: 100 * (SEVERITY_RANK[a.severity] || 0) })
          .addTo(layers.alarms);
        alarmMarkers.set(a.id, m);
      } else {
        m.setIcon(icon);
      }
      m.bindPopup(() => alarmNode(alarms.get(a.id) || a, true));
      if (m.isPopupOpen()) m.setPopupContent(alarmNode(a, true));
    }
    document.getElementById("ioc-map").dataset.alarms = String(alarmMarkers.size);
    applyLevels();
  }

  // applyLevels colours each sensor by its worst open alarm.
  function applyLevels() {
    const worst = {};
    for (const a of alarms.values()) {
      if ((SEVERITY_RANK[a.severity] || 0) > (SEVERITY_RANK[worst[a.entity_id]] || 0)) worst[a.entity_id] = a.severity;
    }
    for (const [id, s] of sensors) {
      const level = worst[id] || "normal";
      if (s.props.level !== level) {
        s.props.level = level;
        drawSensor(s, true);
      }
    }
  }

  // Headline figures.

  async function loadSummary() {
    const s = await getJSON("/api/v1/ioc/summary?" + filterQuery());
    const set = (key, text, sub) => {
      document.querySelector('[data-fig="' + key + '"]').textContent = text;
      const e = document.querySelector('[data-sub="' + key + '"]');
      if (e) e.textContent = sub || "";
    };
    set("received_today", num(s.received_today, 0));
    set("resolved_today", num(s.resolved_today, 0));
    set("open_now", num(s.open_now, 0));
    set("overdue_now", num(s.overdue_now, 0));
    set("on_time_rate", s.resolved ? num(100 * s.on_time_rate, 0) + "%" : "—", t("ioc.tile.on_time_of", num(s.on_time, 0), num(s.resolved, 0)));
    set("median_hours", s.resolved ? t("ioc.hours", num(s.median_hours, 1)) : "—");
    set("avg_rating", s.ratings ? num(s.avg_rating, 1) + "/5" : "—", t("ioc.tile.ratings", num(s.ratings, 0)));
    root.dataset.summary = "1";
  }

  // Rankings per agency, ward and sector.

  async function loadRankings() {
    await Promise.all(["agency", "area", "sector"].map(async (by) => {
      const tbody = document.querySelector("#ioc-rank-" + by + " tbody");
      try {
        const data = await getJSON("/api/v1/ioc/breakdown?" + filterQuery({ by }));
        tbody.replaceChildren();
        for (const r of data.items) {
          const nameCell = el("td");
          if (r.key) {
            const q = { status: "all" };
            q[by] = r.key;
            nameCell.append(el("a", { href: inbox(q), text: r.name || r.key }));
          } else {
            nameCell.textContent = r.name;
          }
          tbody.append(el("tr", { "data-key": r.key },
            el("td", { text: r.rank ? String(r.rank) : "—" }),
            nameCell,
            el("td", { text: num(r.received, 0) }),
            el("td", { text: num(r.resolved, 0) }),
            el("td", { text: r.resolved ? num(100 * r.on_time_rate, 0) + "%" : "—" }),
            el("td", { text: r.resolved ? num(r.median_hours, 1) : "—" }),
            el("td", { class: r.overdue_now ? "bad" : "", text: num(r.overdue_now, 0) }),
            el("td", { text: r.ratings ? num(r.avg_rating, 1) + "/5 (" + r.ratings + ")" : "—" })));
        }
        if (!data.items.length) tbody.append(el("tr", {}, el("td", { colSpan: 8, class: "muted", text: t("ioc.rank.empty") })));
      } catch (err) {
        report(tbody, err);
      }
    }));
  }

  // Sector panels: key figures and charts.

  async function loadFigures() {
    const data = await getJSON("/api/v1/ioc/sectors" + (cfg.sector ? "?sector=" + encodeURIComponent(cfg.sector) : ""));
    for (const sv of data.items) {
      const panel = document.getElementById("sector-" + sv.sector);
      if (!panel) continue;
      for (const f of sv.figures) {
        const dd = panel.querySelector('[data-figure="' + f.key + '"]');
        if (!dd) continue;
        dd.textContent = f.value === null ? "—" : num(f.value, 1) + (f.unit ? " " + f.unit : "");
        dd.dataset.value = f.value === null ? "" : String(f.value);
        dd.title = String(f.count);
      }
    }
  }

  async function loadChart(c) {
    try {
      const data = await getJSON("/api/v1/ioc/series?chart=" + encodeURIComponent(c.key) + "&hours=" + HOURS + "&step=" + STEP);
      if (c.u) {
        c.u.destroy();
        c.u = null;
      }
      const xs = [...new Set(data.items.flatMap((l) => l.points.map((p) => p[0])))].sort((a, b) => a - b);
      const at = new Map(xs.map((x, i) => [x, i]));
      c.ids = data.items.map((l) => l.id);
      c.from = Date.parse(data.from) / 1000;
      c.to = Date.parse(data.to) / 1000;
      c.xs = xs;
      c.ys = data.items.map((l) => {
        const ys = new Array(xs.length).fill(null);
        for (const [x, y] of l.points) ys[at.get(x)] = y;
        return ys;
      });
      if (!data.items.length) {
        c.el.replaceChildren(el("p", { class: "muted", text: t("ioc.chart.empty") }));
        return;
      }
      c.el.replaceChildren();
      const dark = !!cfg.wall;
      const axis = { stroke: dark ? "#c9d3dd" : "#33404d", grid: { stroke: dark ? "#2c3a48" : "#e3e8ed" }, ticks: { stroke: dark ? "#2c3a48" : "#e3e8ed" },
        font: (dark ? "16px" : "12px") + " system-ui, sans-serif" };
      const fmt = (u, v) => (v === null || v === undefined ? "—" : num(v, 1) + (c.unit ? " " + c.unit : ""));
      c.u = new uPlot({
        width: Math.max(c.el.clientWidth, 200),
        height: dark ? 320 : 220,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), ZONE),
        // The whole window, however few points there are yet.
        scales: { x: { time: true, range: () => [c.from, Math.max(c.to, c.xs.length ? c.xs[c.xs.length - 1] : c.to, Date.now() / 1000)] } },
        axes: [Object.assign({ values: timeTicks }, axis), Object.assign({ size: dark ? 70 : 50 }, axis)],
        legend: { show: true, live: true },
        series: [{ label: t("ioc.chart.time"), value: (u, v) => (v === null ? "—" : dateTime(v * 1000)) }].concat(data.items.map((l, i) => ({
          label: l.name, stroke: LINE_COLOURS[i % LINE_COLOURS.length], width: dark ? 3 : 2, spanGaps: true,
          points: { show: true, size: dark ? 6 : 4 }, value: fmt,
        }))),
      }, [c.xs].concat(c.ys), c.el);
      c.el.uplot = c.u; // for the browser tests
      countPoints(c);
    } catch (err) {
      report(c.el, err);
    }
  }

  // timeTicks labels the time axis in Huế's time, 24-hour, with the date
  // at midnight.
  function timeTicks(u, splits) {
    const hm = new Intl.DateTimeFormat(locale(), { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hour12: false });
    const dm = new Intl.DateTimeFormat(locale(), { timeZone: ZONE, day: "2-digit", month: "2-digit" });
    return splits.map((v) => {
      if (v === null || v === undefined) return "";
      const d = new Date(v * 1000);
      const h = hm.format(d);
      return h === "00:00" ? dm.format(d) : h;
    });
  }

  function countPoints(c) {
    const most = c.ys.reduce((m, ys) => Math.max(m, ys.filter((y) => y !== null).length), 0);
    c.el.dataset.points = String(most);
    c.el.dataset.lines = String(c.ys.length);
  }

  // appendReading adds a live reading to the charts that show the entity.
  function appendReading(r) {
    const x = Math.floor(Date.parse(r.at) / 1000);
    if (!x) return;
    for (const c of charts) {
      if (!c.u || c.type !== r.type || r.values[c.attr] === undefined) continue;
      const line = c.ids.indexOf(r.id);
      if (line < 0) continue;
      let i = c.xs.length;
      while (i > 0 && c.xs[i - 1] > x) i--;
      if (i === 0 || c.xs[i - 1] !== x) {
        c.xs.splice(i, 0, x);
        for (const ys of c.ys) ys.splice(i, 0, null);
      } else {
        i--;
      }
      c.ys[line][i] = r.values[c.attr];
      // Keep the window: points older than it go.
      const from = Date.now() / 1000 - HOURS * 3600 - STEP * 60;
      while (c.xs.length > 1 && c.xs[0] < from) {
        c.xs.shift();
        for (const ys of c.ys) ys.shift();
      }
      c.dirty = true;
    }
  }

  function redrawCharts() {
    for (const c of charts) {
      if (!c.dirty) continue;
      c.dirty = false;
      c.u.setData([c.xs].concat(c.ys));
      countPoints(c);
    }
  }

  // Public warnings in force, in a banner.

  async function loadWarnings() {
    const data = await getJSON("/api/v1/warnings");
    warnings.clear();
    for (const w of data.items) warnings.set(w.id, w);
    drawWarnings();
  }

  function warningUpdate(w) {
    const ended = w.withdrawn_at || (w.valid_until && Date.parse(w.valid_until) <= Date.now());
    if (ended) warnings.delete(w.id);
    else warnings.set(w.id, w);
    drawWarnings();
  }

  function drawWarnings() {
    const box = document.getElementById("ioc-warnings");
    const list = [...warnings.values()].sort((a, b) => (SEVERITY_RANK[b.severity] || 0) - (SEVERITY_RANK[a.severity] || 0) || b.id - a.id);
    document.getElementById("ioc-warning-list").replaceChildren(...list.map((w) => el("li", { "data-warning": String(w.id) },
      badge(w.severity), " ", el("span", { class: "w-title", text: w.title }), " — ", el("span", { text: w.body }),
      w.area ? el("span", { class: "muted", text: " (" + name("w", w.area) + ")" }) : null)));
    box.hidden = list.length === 0;
  }

  // The broadcast form posts JSON and shows the API's field errors.

  function warningForm() {
    const form = document.getElementById("ioc-warning-form");
    if (!form) return;
    const result = document.getElementById("ioc-warning-result");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      form.querySelectorAll("[data-error-for]").forEach((p) => { p.hidden = true; p.textContent = ""; });
      result.hidden = true;
      const body = {};
      for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") body[k] = String(v);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      const res = await postJSON("/api/v1/warnings", body);
      button.disabled = false;
      result.hidden = false;
      if (res.ok) {
        result.className = "success";
        result.textContent = t("ioc.broadcast.done", res.data.title);
        form.reset();
        warningUpdate(res.data);
        return;
      }
      const err = (res.data && res.data.error) || { message: "HTTP " + res.status };
      result.className = "alert";
      result.textContent = t("ioc.error", err.message);
      for (const [field, msg] of Object.entries(err.fields || {})) {
        const p = form.querySelector('[data-error-for="' + field + '"]');
        if (p) { p.textContent = msg; p.hidden = false; }
      }
    });
  }

  // The live stream.

  function setLive(state, at) {
    const box = document.getElementById("ioc-live");
    box.dataset.state = state;
    let text = t("ioc.live.connecting");
    if (state === "off") text = t("ioc.live.off");
    else if (state === "live") text = t("ioc.live.on", time(at || new Date()));
    box.querySelector(".text").textContent = text;
  }

  function connect() {
    const refreshCases = debounce(() => {
      loadSummary().catch((e) => report(null, e));
      loadCases().catch((e) => report(null, e));
      loadHeat().catch((e) => report(null, e));
      loadRankings();
    }, 2000);
    const refreshFigures = debounce(() => loadFigures().catch((e) => report(null, e)), 3000);
    let broken = false;
    live = new EventSource("/api/v1/ioc/stream");
    live.addEventListener("hello", () => {
      setLive("live", document.getElementById("ioc-live").dataset.updated);
      if (broken) { // events were missed: reload what they change
        broken = false;
        reload();
      }
    });
    live.addEventListener("readings", (e) => {
      const list = JSON.parse(e.data);
      let last = "";
      for (const r of list) {
        const s = sensors.get(r.id);
        if (s && r.values[s.props.attr] !== undefined) {
          s.props.value = r.values[s.props.attr];
          s.props.modified_at = r.at;
          drawSensor(s, true);
        }
        appendReading(r);
        if (r.at > last) last = r.at;
      }
      redrawCharts();
      refreshFigures();
      const box = document.getElementById("ioc-live");
      const now = new Date();
      box.dataset.last = last;
      box.dataset.updated = now.toISOString();
      setLive("live", now);
    });
    live.addEventListener("alarm", (e) => alarmUpdate(JSON.parse(e.data)));
    live.addEventListener("warning", (e) => warningUpdate(JSON.parse(e.data)));
    live.addEventListener("case", () => refreshCases());
    live.addEventListener("error", () => {
      broken = true;
      setLive("off");
    });
  }

  function reload() {
    loadSensors().then(loadAlarms).catch((e) => report(null, e));
    loadCases().catch((e) => report(null, e));
    loadHeat().catch((e) => report(null, e));
    loadSummary().catch((e) => report(null, e));
    loadWarnings().catch((e) => report(null, e));
    loadFigures().catch((e) => report(null, e));
    loadRankings();
    for (const c of charts) loadChart(c);
  }

  // The video wall: large type, no forms, sectors in turn.

  let rotation = null;
  function wall(on, fullscreen) {
    cfg.wall = on;
    root.classList.toggle("ioc-wall", on);
    document.body.classList.toggle("ioc-wall-body", on);
    const toggle = document.getElementById("ioc-wall-toggle");
    toggle.textContent = on ? t("ioc.wall.exit") : t("ioc.wall");
    const u = new URL(window.location.href);
    if (on) u.searchParams.set("wall", "1");
    else { u.searchParams.delete("wall"); }
    window.history.replaceState(null, "", u);
    clearInterval(rotation);
    const panels = [...document.querySelectorAll(".ioc-panel")];
    panels.forEach((p, i) => p.classList.toggle("current", on && i === 0));
    if (on && panels.length > 1) {
      let i = 0;
      rotation = setInterval(() => {
        panels[i].classList.remove("current");
        i = (i + 1) % panels.length;
        panels[i].classList.add("current");
      }, Math.max(5, cfg.rotate || 20) * 1000);
    }
    if (fullscreen) {
      if (on && !document.fullscreenElement && document.documentElement.requestFullscreen) {
        document.documentElement.requestFullscreen().catch(() => {});
      } else if (!on && document.fullscreenElement) {
        document.exitFullscreen().catch(() => {});
      }
    }
    if (basemap) {
      basemap.resetStyle();
      for (const c of charts) if (c.u) loadChart(c); // the wall's colours and sizes
    }
    if (map) setTimeout(() => map.invalidateSize(), 200);
  }

  function controls() {
    document.getElementById("ioc-wall-toggle").addEventListener("click", () => wall(!cfg.wall, true));
    const fs = document.getElementById("ioc-fullscreen");
    if (fs) fs.addEventListener("click", () => {
      if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
    });
    // The filter: only what is set goes into the URL.
    const form = document.getElementById("ioc-filters");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(form)) if (v !== "") q.set(k, v);
      window.location.href = "/ioc" + (q.toString() ? "?" + q : "");
    });
  }

  async function start() {
    root = document.getElementById("ioc");
    if (!root) return;
    cfg = JSON.parse(document.getElementById("ioc-config").textContent);
    controls();
    warningForm();
    if (cfg.wall) wall(true, false);
    document.querySelectorAll(".ioc-chart").forEach((e) => {
      const c = { el: e, key: e.dataset.chart, type: e.dataset.type, attr: e.dataset.attr, unit: e.dataset.unit, ids: [], xs: [], ys: [] };
      charts.push(c);
      // Charts follow their box: window size, wall mode, rotation.
      new ResizeObserver(() => {
        if (c.u && e.clientWidth > 0 && Math.abs(c.u.width - e.clientWidth) > 2) c.u.setSize({ width: e.clientWidth, height: c.u.height });
      }).observe(e);
    });
    document.getElementById("ioc-live").dataset.updated = new Date().toISOString();
    connect();
    try {
      await drawMap();
    } catch (err) {
      report(document.getElementById("ioc-map"), err);
      return;
    }
    reload();
    root.dataset.ready = "1";
  }

  document.addEventListener("DOMContentLoaded", () => { start(); });
})();
