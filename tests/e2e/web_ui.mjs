// web_ui.mjs — the dashboard and the owner portal in headless Chromium (playwright-core), driven by test_web.py.
// Env: WEB_URL, ADMIN, OWNER (tokens), DAY, SHOTS (screenshots and the downloaded CSV), EXPECT (JSON).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const url = process.env.WEB_URL;
const shots = process.env.SHOTS;
const expect = JSON.parse(process.env.EXPECT);
const problems = [];

function check(cond, msg) {
  if (!cond) throw new Error("check failed: " + msg);
  console.log("ok " + msg);
}

const num = (s) => Number(String(s).replace(/[^0-9]/g, ""));

async function login(page, token) {
  await page.goto(url);
  await page.waitForSelector("#login-form", { state: "visible" });
  await page.fill("#token", token);
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("body[data-loaded='1']", { timeout: 20000 });
}

// Pixels of a chart's canvas that are not background: the lines were drawn.
async function inkedPixels(page, id) {
  return page.evaluate((id) => {
    const c = document.querySelector("#" + id + " canvas");
    if (!c) return -1;
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  }, id);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  const page = await ctx.newPage();
  // A signed-out page asks /api/v1/me and gets 401 by design; any other console error counts.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push("console: " + m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !(r.status() === 401 && /\/api\/v1\/(me|login)$/.test(r.url())))
      problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));

  // --- the operator -----------------------------------------------------------------
  await page.goto(url);
  await page.waitForSelector("#login-form", { state: "visible" });
  await page.fill("#token", "sinkd_" + "0".repeat(64));
  await page.click("#login-form button[type=submit]");
  await page.waitForSelector("#login-error:not(.hidden)");
  check((await page.textContent("#login-error")).includes("Unknown"), "a wrong token is refused");
  await login(page, process.env.ADMIN);
  check((await page.textContent("#who")).includes("operator"), "operator signed in");
  check(num(await page.textContent("#stat-week")) === expect.total, `week's unique addresses card = ${expect.total}`);
  check(num(await page.textContent("#stat-last-day")) === expect.total, "last-day card");
  for (const id of ["chart-day", "chart-week"]) {
    await page.waitForSelector(`#${id} canvas`);
    check(await page.getAttribute(`#${id}`, "data-max") === String(expect.total), `${id} peaks at the unique count`);
    check((await inkedPixels(page, id)) > 200, `${id} has drawn pixels`);
    const legend = await page.$$eval(`#${id} .u-legend .u-series th`, (ths) => ths.map((t) => t.textContent.trim()));
    check(legend.some((t) => t.includes("rustock")) && legend.some((t) => t.includes("all families")), `${id} legend names the family: ${legend}`);
  }
  const asns = await page.$$eval("#top-asn tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  check(asns.length === 3 && asns.includes("AS" + expect.owner_asn), `top networks: ${asns}`);
  const ccs = await page.$$eval("#top-cc tbody tr td:first-child", (tds) => tds.map((t) => t.textContent).sort());
  check(JSON.stringify(ccs) === JSON.stringify(["DE", "GB", "US"]), `top countries: ${ccs}`);
  const listeners = await page.$$eval("#listeners tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  check(listeners.includes("seized"), `listener health lists the sensor's listener: ${listeners}`);
  check((await page.textContent("#consumers")).includes("store (indexer)"), "consumer lag shown");
  // The summary is polled: after two samples the event rate is a number.
  await page.waitForFunction(() => /\d/.test(document.getElementById("stat-rate").textContent), null, { timeout: 15000 });
  check(true, "events/s shows a number");
  await page.screenshot({ path: join(shots, "dashboard.png"), fullPage: true });

  // A phone: one column, nothing wider than the screen but the tables' own scroll boxes.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(400);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal page scroll on a phone (overflow ${overflow}px)`);
  await page.screenshot({ path: join(shots, "dashboard-phone.png"), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 1000 });
  await page.click("#logout");
  await page.waitForSelector("#login-form", { state: "visible" });

  // --- the owner of one ASN ---------------------------------------------------------
  await login(page, process.env.OWNER);
  check((await page.textContent("#who")).includes("AS" + expect.owner_asn), "owner signed in with its scope");
  check(!(await page.isVisible("#ops")), "no sensor panels for an owner");
  const hosts = await page.$$eval("#hosts tbody tr td.addr", (tds) => tds.map((t) => t.textContent));
  check(JSON.stringify([...hosts].sort()) === JSON.stringify([...expect.owner_hosts].sort()), `its ${hosts.length} hosts, exactly`);
  const text = await page.textContent("body");
  check(!expect.b_hosts.some((a) => text.includes(a + " ") || hosts.includes(a)), "no other network's address anywhere");
  const firstRow = await page.$$eval("#hosts tbody tr:first-child td", (tds) => tds.map((t) => t.textContent));
  check(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(firstRow[2]) && firstRow[4] === "rustock" && /\d/.test(firstRow[5]), `host row: ${firstRow}`);
  await page.fill("#report-day", process.env.DAY);
  await page.click("#reports-form button[type=submit]");
  await page.waitForSelector("#reports a[href$='.csv']");
  const links = await page.$$eval("#reports a", (as) => as.map((a) => a.textContent));
  check(links.length > 0 && links.every((n) => n.includes("-as" + expect.owner_asn + ".")), `report files: ${links}`);
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#reports a[href$='.csv']")]);
  await dl.saveAs(join(shots, "download.csv"));
  check(true, "CSV downloaded: " + dl.suggestedFilename());
  await page.screenshot({ path: join(shots, "owner.png"), fullPage: true });
  check(problems.length === 0, "no console errors or CSP violations: " + problems.join(" | "));
} finally {
  await browser.close();
}
