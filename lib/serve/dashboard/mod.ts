/**
 * The dashboard's files, embedded into the program at build time by text imports (so
 * `deno compile` carries them and no read permission or CDN is needed), and served as-is:
 * there is no build step. uPlot comes from npm, pinned in deno.json.
 *
 * @module
 */

import indexHtml from "./index.html" with { type: "text" };
import dashboardJs from "./dashboard.js" with { type: "text" };
import dashboardCss from "./dashboard.css" with { type: "text" };
import uPlotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uPlotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** One static file of the dashboard. */
export interface Asset {
  path: string;
  contentType: string;
  body: string;
}

/** Every file of the dashboard, by the path it is served at. */
export const DASHBOARD_ASSETS: readonly Asset[] = [
  { path: "/", contentType: "text/html; charset=utf-8", body: indexHtml },
  { path: "/assets/dashboard.js", contentType: "text/javascript; charset=utf-8", body: dashboardJs },
  { path: "/assets/dashboard.css", contentType: "text/css; charset=utf-8", body: dashboardCss },
  { path: "/assets/uPlot.iife.min.js", contentType: "text/javascript; charset=utf-8", body: uPlotJs },
  { path: "/assets/uPlot.min.css", contentType: "text/css; charset=utf-8", body: uPlotCss },
];
