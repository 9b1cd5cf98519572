// edgelog dashboard: plain browser JavaScript, no build step. Reads /api/v1/status,
// /api/v1/sensors and /api/v1/readings of the logger that serves it and draws one uPlot chart
// per sensor. A token given as /#token=… is sent as a bearer token and removed from the URL.
"use strict";
(() => {
  const POLL_MS = 2000;
  const TARGET_POINTS = 600;
  const COLORS = ["#2a6fdb", "#d9480f", "#2b8a3e", "#7048e8", "#c2255c", "#0b7285", "#e67700", "#495057"];

  const state = {
    token: sessionStorage.getItem("edgelog-token") || "",
    spanMs: 3_600_000,
    live: true,
    /** The zoomed window when not live: { since, until } in unix ms. */
    view: null,
    /** name → { u, el, data: { t, v, min, max }, everyMs, unit } */
    charts: new Map(),
    lastStored: null,
    lastWritten: null,
    lastStatusAt: 0,
    busy: false,
  };

  const hashToken = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (hashToken) {
    state.token = decodeURIComponent(hashToken[1]);
    sessionStorage.setItem("edgelog-token", state.token);
    history.replaceState(null, "", location.pathname + location.search);
  }

  const $ = (id) => document.getElementById(id);

  async function api(path) {
    const headers = state.token ? { authorization: `Bearer ${state.token}` } : {};
    const res = await fetch(path, { headers, cache: "no-store" });
    if (res.status === 401) throw new Error("unauthorized: open this page as /#token=YOUR_TOKEN");
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return await res.json();
  }

  const number = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }
  function duration(s) {
    if (s === null || s === undefined) return "never";
    if (s < 1) return `${Math.round(s * 1000)} ms ago`;
    if (s < 120) return `${s.toFixed(1)} s ago`;
    return `${Math.round(s / 60)} min ago`;
  }
  function uptime(s) {
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return d > 0 ? `${d} d ${h} h` : h > 0 ? `${h} h ${m} min` : `${m} min ${Math.floor(s % 60)} s`;
  }

  function showBanner(text) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = text === "";
    document.body.dataset.healthy = text === "" ? "true" : "false";
  }

  async function refreshStatus() {
    const s = await api("/api/v1/status");
    const now = performance.now();
    if (state.lastStored !== null && now > state.lastStatusAt) {
      const rate = (s.stored - state.lastStored) / ((now - state.lastStatusAt) / 1000);
      $("stat-rate").textContent = number.format(Math.max(0, rate));
    }
    if (s.written_bytes !== null && state.lastWritten !== null && now > state.lastStatusAt) {
      // Flash wear follows the bytes the process writes (fsyncs included), not the readings' size.
      const perDay = ((s.written_bytes - state.lastWritten) / ((now - state.lastStatusAt) / 1000)) * 86_400;
      $("stat-flash").textContent = bytes(Math.max(0, perDay));
    }
    state.lastWritten = s.written_bytes;
    state.lastStored = s.stored;
    state.lastStatusAt = now;
    $("version").textContent = `${s.version} · SQLite ${s.sqlite_version}`;
    $("stat-stored").textContent = number.format(s.stored);
    $("stat-taken").textContent = number.format(s.taken);
    $("stat-dropped").textContent = number.format(s.dropped);
    $("stat-rejected").textContent = number.format(s.rejected);
    $("stat-pending").textContent = number.format(s.pending);
    $("stat-commit").textContent = duration(s.health.last_commit_age_s);
    $("stat-errors").textContent = number.format(s.commit_errors);
    $("stat-db").textContent = bytes(s.database_bytes);
    $("stat-wal").textContent = bytes(s.wal_bytes);
    $("stat-bpr").textContent = s.stored_bytes_per_reading === null ? "–" : s.stored_bytes_per_reading.toFixed(1);
    $("stat-rss").textContent = bytes(s.rss_bytes);
    $("stat-uptime").textContent = uptime(s.uptime_s);
    $("stat-lag").textContent = s.forwarders.length === 0
      ? "no forwarder"
      : s.forwarders.map((f) =>
        `${f.name}: ${number.format(f.lag_readings)}${
          f.held_readings > 0 ? ` (${number.format(f.held_readings)} held)` : ""
        }`
      ).join(", ");
    const clock = s.clock;
    $("stat-clock").textContent = clock === null
      ? "–"
      : clock.trusted
      ? `trusted${clock.restamped > 0 ? ` · ${number.format(clock.restamped)} re-stamped` : ""}`
      : `provisional for ${uptime(clock.untrusted_s)}`;
    $("stat-clock").title = clock?.reason ?? "";
    $("stat-clock").parentElement.classList.toggle("bad", clock !== null && !clock.trusted);
    $("stat-errors").parentElement.classList.toggle("bad", s.health.commit_errors_in_row > 0);
    $("stat-dropped").parentElement.classList.toggle("bad", s.dropped > 0);
    showBanner(
      s.health.status !== "ok"
        ? `${s.health.status === "degraded" ? "Degraded" : "Writer unhealthy"}: ${s.health.reason}`
        : clock && !clock.trusted
        ? `Clock not trusted: ${clock.reason}; readings get provisional timestamps, re-stamped once it is`
        : "",
    );
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  }

  function window_() {
    if (!state.live && state.view) return state.view;
    const until = Date.now();
    return { since: until - state.spanMs, until };
  }

  function everyFor(spanMs) {
    return Math.max(1000, Math.ceil(spanMs / TARGET_POINTS / 1000) * 1000);
  }

  function toColumns(r) {
    return { t: r.t, v: r.value, min: r.min ?? r.value, max: r.max ?? r.value };
  }

  function plotData(d) {
    return [d.t.map((t) => t / 1000), d.v, d.min, d.max];
  }

  const fmtValue = (_u, v) => v === null || v === undefined ? "–" : v.toFixed(2);

  function makeChart(sensor, index) {
    const el = document.createElement("section");
    el.className = "chart";
    el.dataset.sensor = sensor.name;
    el.dataset.points = "0";
    const title = document.createElement("h2");
    const name = document.createElement("span");
    name.textContent = sensor.unit ? `${sensor.name} (${sensor.unit})` : sensor.name;
    const now = document.createElement("span");
    now.className = "now";
    title.append(name, now);
    const plot = document.createElement("div");
    el.append(title, plot);
    $("charts").append(el);
    const color = COLORS[index % COLORS.length];
    const opts = {
      width: Math.max(300, plot.clientWidth || el.clientWidth - 24),
      height: 220,
      cursor: { sync: { key: "edgelog" }, drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      scales: { x: { time: true } },
      series: [
        {},
        {
          label: "avg",
          stroke: color,
          width: 1.5,
          value: fmtValue,
        },
        {
          label: "min",
          stroke: color + "55",
          width: 1,
          value: fmtValue,
        },
        {
          label: "max",
          stroke: color + "55",
          width: 1,
          value: fmtValue,
        },
      ],
      bands: [{ series: [3, 2], fill: color + "1f" }],
      axes: [{}, { size: 60 }],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          const since = Math.round(u.posToVal(u.select.left, "x") * 1000);
          const until = Math.round(u.posToVal(u.select.left + u.select.width, "x") * 1000);
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          zoomTo(since, until);
        }],
      },
    };
    const u = new uPlot(opts, [[], [], [], []], plot);
    u.over.addEventListener("dblclick", () => setLive(true));
    const chart = { u, el, now, unit: sensor.unit, data: { t: [], v: [], min: [], max: [] }, everyMs: 0 };
    state.charts.set(sensor.name, chart);
    return chart;
  }

  function render(chart) {
    chart.u.setData(plotData(chart.data), true);
    chart.el.dataset.points = String(chart.data.t.length);
    const n = chart.data.v.length;
    chart.now.textContent = n > 0 ? `${chart.data.v[n - 1].toFixed(2)} ${chart.unit ?? ""}` : "";
  }

  async function loadFull(chart, name) {
    const w = window_();
    const every = everyFor(w.until - w.since);
    const r = await api(
      `/api/v1/readings?sensor=${encodeURIComponent(name)}&since=${w.since}&until=${w.until}&every=${every}ms`,
    );
    chart.everyMs = every;
    chart.el.dataset.every = String(every);
    chart.data = toColumns(r);
    render(chart);
  }

  async function loadIncrement(chart, name) {
    const d = chart.data;
    const from = d.t.length > 0 ? d.t[d.t.length - 1] : Date.now() - state.spanMs;
    const r = await api(
      `/api/v1/readings?sensor=${encodeURIComponent(name)}&since=${from}&until=now&every=${chart.everyMs}ms`,
    );
    const add = toColumns(r);
    // The newest bucket was partial: replace it and everything after.
    let keep = d.t.length;
    while (keep > 0 && add.t.length > 0 && d.t[keep - 1] >= add.t[0]) keep--;
    const cutoff = Date.now() - state.spanMs;
    let first = 0;
    while (first < keep && d.t[first] < cutoff) first++;
    chart.data = {
      t: d.t.slice(first, keep).concat(add.t),
      v: d.v.slice(first, keep).concat(add.v),
      min: d.min.slice(first, keep).concat(add.min),
      max: d.max.slice(first, keep).concat(add.max),
    };
    render(chart);
  }

  async function refreshCharts(full) {
    const { sensors } = await api("/api/v1/sensors");
    $("empty").hidden = sensors.length > 0;
    const jobs = [];
    sensors.forEach((sensor, i) => {
      let chart = state.charts.get(sensor.name);
      const fresh = chart === undefined;
      if (fresh) chart = makeChart(sensor, i);
      if (fresh || full || chart.everyMs === 0) jobs.push(loadFull(chart, sensor.name));
      else if (state.live) jobs.push(loadIncrement(chart, sensor.name));
    });
    await Promise.all(jobs);
  }

  async function tick(full = false) {
    if (state.busy) return;
    state.busy = true;
    try {
      await refreshStatus();
      await refreshCharts(full);
    } catch (e) {
      showBanner(`Cannot read from edgelog: ${e.message}`);
    } finally {
      state.busy = false;
    }
  }

  function setLive(live) {
    state.live = live;
    if (live) state.view = null;
    $("live").classList.toggle("active", live);
    tick(true);
  }

  function zoomTo(since, until) {
    if (until <= since) return;
    state.view = { since, until };
    setLive(false);
  }

  for (const button of document.querySelectorAll("#range button[data-span]")) {
    button.addEventListener("click", () => {
      state.spanMs = Number(button.dataset.span);
      for (const b of document.querySelectorAll("#range button[data-span]")) b.classList.toggle("active", b === button);
      setLive(true);
    });
  }
  $("live").addEventListener("click", () => setLive(true));
  globalThis.addEventListener("resize", () => {
    for (const chart of state.charts.values()) {
      chart.u.setSize({ width: Math.max(300, chart.el.clientWidth - 24), height: 220 });
    }
  });

  tick(true);
  setInterval(() => tick(false), POLL_MS);
})();
