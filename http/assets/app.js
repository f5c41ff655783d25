// cityops staff UI: draws area maps with Leaflet from the server's GeoJSON.
// No tile server is needed: the basemap is the areas themselves, so the
// map works offline.
"use strict";

(function () {
  const palette = ["#7a1f3d", "#2f6f9f", "#3b8b5a", "#b7791f", "#6b4c9a", "#a23b72", "#2c7a7b", "#8a6d3b"];

  function styleFor(feature, highlight) {
    const p = feature.properties;
    if (p.depth === 0) {
      return { color: "#33404d", weight: 2, fillOpacity: 0.03, fillColor: "#ffffff" };
    }
    const i = Math.abs(hash(p.code)) % palette.length;
    const hit = highlight && p.code === highlight;
    return {
      color: hit ? "#000" : "#ffffff", weight: hit ? 3 : 1,
      fillColor: palette[i], fillOpacity: highlight ? (hit ? 0.65 : 0.15) : 0.45,
      dashArray: p.approximate ? "4 3" : null,
    };
  }

  function hash(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return h;
  }

  async function draw(el) {
    const map = L.map(el, { zoomSnap: 0.25, attributionControl: true });
    el.leafletMap = map; // for the browser tests and the console's devtools
    const highlight = el.dataset.highlight || "";
    const picking = el.dataset.pick !== undefined;
    const res = await fetch(el.dataset.geojson, { headers: { Accept: "application/geo+json" } });
    if (!res.ok) {
      el.textContent = "HTTP " + res.status;
      return;
    }
    const data = await res.json();
    // Cities first so that wards are drawn (and clickable) on top.
    data.features.sort((a, b) => a.properties.depth - b.properties.depth);
    let focus = null;
    const layer = L.geoJSON(data, {
      style: (f) => styleFor(f, highlight),
      onEachFeature: (f, l) => {
        const p = f.properties;
        l.bindTooltip(p.name + " (" + p.code + ")" + (p.approximate ? " · " + el.dataset.approxLabel : ""), { sticky: true });
        if (p.depth > 0 && !picking) l.on("click", () => { window.location.href = p.url; });
        if (p.code === highlight) focus = l;
      },
    }).addTo(map);
    map.attributionControl.setPrefix(false);
    if (data.features.some((f) => f.properties.approximate)) {
      map.attributionControl.addAttribution(el.dataset.approxLabel);
    }
    const bounds = (focus || layer).getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    else map.setView([16.46, 107.59], 10);
    el.dataset.features = String(data.features.length);
    if (picking) pick(el, map);
    if (el.dataset.points) points(el, map, !focus);
    el.classList.add("drawn");
  }

  // points draws reports on the map, coloured by state, each linking to
  // its case page.
  function points(el, map, fit) {
    const list = JSON.parse(el.dataset.points || "[]") || [];
    const colour = (p) => p.o ? "#b3261e" : (p.s === "resolved" || p.s === "closed") ? "#1d6b35" : p.s === "received" ? "#9a5b00" : "#2f6f9f";
    const layer = L.featureGroup();
    for (const p of list) {
      L.circleMarker([p.lat, p.lon], { radius: 7, color: "#fff", weight: 2, fillColor: colour(p), fillOpacity: 0.95 })
        .bindTooltip(p.t + (p.l ? " · " + p.l : ""))
        .on("click", () => { window.location.href = (el.dataset.link || "/staff/reports/") + p.t; })
        .addTo(layer);
    }
    layer.addTo(map);
    if (fit && list.length > 0) map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 15 });
    el.dataset.markers = String(list.length);
  }

  // pick lets a citizen choose the report's location: a tap on the map or
  // the browser's geolocation fills the form's lat/lon fields.
  function pick(el, map) {
    const form = el.closest("form");
    const lat = form.querySelector("input[name=lat]");
    const lon = form.querySelector("input[name=lon]");
    const status = document.getElementById("pick-status");
    let marker = null;
    function set(latlng, zoom) {
      lat.value = latlng.lat.toFixed(6);
      lon.value = latlng.lng.toFixed(6);
      if (marker) marker.setLatLng(latlng);
      else marker = L.circleMarker(latlng, { radius: 9, color: "#000", weight: 2, fillColor: "#ffd400", fillOpacity: 1 }).addTo(map);
      if (zoom) map.setView(latlng, Math.max(map.getZoom(), 14));
      if (status) status.textContent = status.dataset.chosen + ": " + lat.value + ", " + lon.value;
      el.dataset.picked = "1";
      similar();
    }
    // similar shows open reports of the same kind close by, so the citizen
    // may follow one instead of filing the same problem again.
    const box = document.getElementById("nearby");
    const cat = form.querySelector("select[name=category]");
    async function similar() {
      if (!box || !cat.value || !lat.value) return;
      const q = new URLSearchParams({ category: cat.value, lat: lat.value, lon: lon.value });
      const res = await fetch("/api/v1/reports/nearby?" + q, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      box.replaceChildren();
      if (!data.items.length) { box.hidden = true; return; }
      const h = document.createElement("p");
      h.textContent = box.dataset.title;
      const ul = document.createElement("ul");
      for (const r of data.items) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/r/" + r.tracking;
        a.textContent = box.dataset.follow + " " + r.tracking;
        const d = document.createElement("span");
        d.textContent = " — " + r.description.slice(0, 120);
        li.append(a, d);
        ul.append(li);
      }
      box.append(h, ul);
      box.hidden = false;
    }
    if (cat) cat.addEventListener("change", similar);
    if (lat.value && lon.value) set(L.latLng(+lat.value, +lon.value), true);
    map.on("click", (e) => set(e.latlng, false));
    const me = document.getElementById("locate-me");
    if (me) {
      if (!navigator.geolocation) me.hidden = true;
      me.addEventListener("click", () => {
        navigator.geolocation.getCurrentPosition(
          (pos) => set(L.latLng(pos.coords.latitude, pos.coords.longitude), true),
          () => { if (status) status.textContent = me.dataset.denied; },
          { enableHighAccuracy: true, timeout: 10000 });
      });
    }
  }

  // attrs shows only the chosen category's extra questions; the others are
  // disabled so they are neither shown nor sent.
  function attrs() {
    const sel = document.querySelector("#report-form select[name=category]");
    if (!sel) return;
    const update = () => {
      document.querySelectorAll("fieldset[data-attrs-for]").forEach((fs) => {
        const on = fs.dataset.attrsFor === sel.value;
        fs.hidden = !on;
        fs.disabled = !on;
      });
    };
    sel.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", () => {
    attrs();
    document.querySelectorAll("[data-map]").forEach((el) => {
      draw(el).catch((err) => { el.textContent = String(err); });
    });
  });
})();

// Printable pages (the weekly report) print from a button: no inline
// handlers under the Content-Security-Policy.
document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));

// The readings behind an alarm, on the case it opened: a line of the
// entity's attribute over the last day with the rule's threshold,
// refreshed every 15 seconds while the page is open.
// uPlot loads after this script (both deferred), so the charts start once
// the document is ready.
document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-readings]").forEach((el) => {
  if (typeof uPlot === "undefined") return;
  let plot = null;
  async function draw() {
    const res = await fetch(el.dataset.readings, { headers: { Accept: "application/json" } });
    if (!res.ok) return;
    const d = await res.json();
    const xs = d.points.map((p) => p[0]);
    const ys = d.points.map((p) => p[1]);
    el.dataset.points = String(xs.length);
    if (!xs.length) {
      el.textContent = el.dataset.empty;
      return;
    }
    const data = [xs, ys];
    const series = [{}, { label: el.dataset.label + (d.unit ? " (" + d.unit + ")" : ""), stroke: "#1d4ed8", width: 2 }];
    if (d.threshold !== undefined && d.threshold !== null) {
      data.push(xs.map(() => d.threshold));
      series.push({ label: "⚠", stroke: "#b91c1c", dash: [6, 4], width: 1 });
    }
    if (plot) {
      plot.setData(data);
      return;
    }
    el.textContent = "";
    plot = new uPlot({ width: Math.max(el.clientWidth, 300), height: 220, series: series, scales: { x: { time: true } } }, data, el);
  }
  draw();
  setInterval(draw, 15000);
}));
