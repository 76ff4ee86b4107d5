// The explorer (explorer/, built into explorer/dist by scripts/lib.sh) in Debian's Chromium,
// headless, driven with playwright-core: a static server for the bundle on 127.0.0.1 and a
// browser whose pages log their console errors into the test's output.

import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './node.mjs';

/** Where the explorer's bundle is. */
export const EXPLORER_DIST = process.env.OPG_EXPLORER_DIST ?? join(REPO_ROOT, 'explorer', 'dist');

/** Debian's Chromium (package `chromium`), which scripts/lib.sh installs. */
export const CHROMIUM = process.env.OPG_CHROMIUM ?? '/usr/bin/chromium';

/** Where tests leave screenshots: `$OPG_TEST_OUTPUT`, else tests/output/ (ignored by git). */
export const OUTPUT_DIR = process.env.OPG_TEST_OUTPUT ?? join(REPO_ROOT, 'tests', 'output');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.ico': 'image/x-icon',
};

/** Serves `dir` on 127.0.0.1 at a free port; resolves with `{ url, close }`. Only files under
 * `dir` are served; anything else is a 404. */
export function serveStatic(dir = EXPLORER_DIST) {
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`no explorer bundle in ${dir}: build it with \`(cd explorer && npm ci && npm run build)\``);
  }
  const root = normalize(dir + sep);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

/** Starts headless Chromium. The flags keep it off the network it cannot reach (background
 * updates, sync), which would otherwise fail connection after connection. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium missing at ${CHROMIUM}: install Debian's chromium package (scripts/lib.sh does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** A new page of 1400×1000 whose console errors and page errors are collected in `page.errors`. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') page.errors.push(`console: ${message.text()}`);
  });
  return page;
}

/** Saves a full-page screenshot as `<OUTPUT_DIR>/explorer/<name>.png`; returns its path. */
export async function screenshot(page, name) {
  const dir = join(OUTPUT_DIR, 'explorer');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
