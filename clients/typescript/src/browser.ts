/**
 * Debian's (or the system's) Chromium driven by playwright-core: no browser download.
 * CHROMIUM overrides the executable (macOS: "/Applications/Chromium.app/Contents/MacOS/Chromium").
 */
import { existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { type Browser, type BrowserContext, chromium } from "playwright-core";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const TEST_OUTPUT = process.env.TEST_OUTPUT ?? resolve(REPO_ROOT, "test-output");

/** Quiet flags: without the networking ones Chromium phones home at start, which a closed network refuses. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(path)) {
    throw new Error(
      `no Chromium at ${path}: install it (Debian/Ubuntu: sudo apt-get install -y chromium) ` +
        "or point CHROMIUM at a Chromium or Chrome executable",
    );
  }
  return path;
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, headless: true });
}

export function outputPath(name: string): string {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return resolve(TEST_OUTPUT, name);
}

/**
 * Every request the context makes, as URLs; those whose origin is not one of `allowed` are
 * aborted (so a page that would reach the internet fails fast instead of hanging) and listed.
 */
export async function recordRequests(
  context: BrowserContext,
  allowed: (url: URL) => boolean,
): Promise<{ all: string[]; foreign: string[] }> {
  const record = { all: [] as string[], foreign: [] as string[] };
  context.on("request", (request) => record.all.push(request.url()));
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (allowed(new URL(url))) return route.continue();
    record.foreign.push(url);
    return route.abort("blockedbyclient");
  });
  return record;
}

/** A one-page HTTP server on 127.0.0.1:`port` (0: any free port), answering `html` for every path. */
export async function servePage(
  port: number,
  html: string,
  host = "127.0.0.1",
): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    response.end(html);
  });
  await new Promise<void>((ready, fail) => {
    server.once("error", fail);
    server.listen(port, host, ready);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    origin: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
