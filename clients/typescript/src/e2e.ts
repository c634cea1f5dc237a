/**
 * `make e2e` after the type checks: start the service on a free port with its own DATA_DIR and
 * CORS_ORIGINS listing a second local origin, wait for /ready, run the client flow, the
 * browser tests and the packed package in a page (src/page.test.ts) against it, then the
 * package's tests (src/kit.test.ts: refresh, reconnection, the ends of streams) against a
 * second instance on the same database whose access tokens live 3 s, and stop both whatever
 * happens. The service mails through an SMTP server of this process (src/mailbox.ts), from which
 * the account-recovery flow (src/recovery.ts) and the sharing flow (src/sharing.ts) read the links
 * they follow.
 *   TODO_API   the service command (default: <repo>/.venv/bin/todo-api)
 *   E2E_DATA_DIR  its data folder (default: <repo>/.data/e2e); DATABASE_URL, if set, is passed on
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";

import { REPO_ROOT, outputPath } from "./browser.js";
import { Mailbox } from "./mailbox.js";
import { recoveryFlow } from "./recovery.js";
import { sharingFlow } from "./sharing.js";

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 180_000;
/** Both instances: one worker; every check signs up accounts of its own from this one address,
 * and the signup limit counts them in the database across runs, so it is lifted here. */
const TEST_SETTINGS = { WORKERS: "1", SIGNUP_LIMIT_PER_HOUR: "1000" };

function freePort(): Promise<number> {
  return new Promise((found, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, HOST, () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => found(port));
    });
  });
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode ?? 1);
    else child.once("exit", (code) => done(code ?? 1));
  });
}

async function waitUntilReady(service: ChildProcess, url: string, failed: () => Error | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const error = failed();
    if (error) throw new Error(`the service did not start: ${error.message}`);
    if (service.exitCode !== null) throw new Error(`the service exited with ${service.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/ready`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((wait) => setTimeout(wait, 500));
  }
  throw new Error(`the service was not ready within ${READY_TIMEOUT_MS / 1000} s`);
}

async function stop(service: ChildProcess): Promise<void> {
  if (service.pid === undefined || service.exitCode !== null || service.signalCode !== null) return;
  service.kill("SIGTERM");
  const timer = setTimeout(() => service.kill("SIGKILL"), 20_000);
  await exited(service);
  clearTimeout(timer);
}

let running: ChildProcess | undefined;
async function run(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  console.log(`\n== ${name}: ${command} ${args.join(" ")}`);
  running = spawn(command, args, { stdio: "inherit", env });
  return (await exited(running)) === 0;
}

async function main(): Promise<number> {
  const [apiPort, pagePort, shortPort] = [await freePort(), await freePort(), await freePort()];
  const apiUrl = `http://${HOST}:${apiPort}`;
  const allowedOrigin = `http://${HOST}:${pagePort}`;
  const command = process.env.TODO_API ?? resolve(REPO_ROOT, ".venv/bin/todo-api");
  const dataDir = process.env.E2E_DATA_DIR ?? resolve(REPO_ROOT, ".data/e2e");
  const logPath = outputPath("e2e-service.log");
  const log = createWriteStream(logPath);
  const mailbox = new Mailbox(); // the service mails through it; the recovery flow reads it
  const smtpUrl = await mailbox.start();

  console.log(`starting ${command} serve on ${apiUrl} (DATA_DIR=${dataDir}, CORS_ORIGINS=${allowedOrigin}); log: ${logPath}`);
  const service = spawn(command, ["serve"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...TEST_SETTINGS, HOST, PORT: String(apiPort), DATA_DIR: dataDir, CORS_ORIGINS: allowedOrigin, REMINDER_INTERVAL_SECONDS: "1", SMTP_URL: smtpUrl, APP_URL: allowedOrigin },
    stdio: ["ignore", "pipe", "pipe"],
  });
  service.stdout?.pipe(log);
  service.stderr?.pipe(log);
  let spawnError: Error | undefined;
  service.once("error", (error) => {
    spawnError = error;
  });
  let shortLived: ChildProcess | undefined; // a second instance whose access tokens live 3 s
  const interrupted = (): void => {
    running?.kill("SIGTERM");
    void Promise.all([stop(service), shortLived && stop(shortLived)]).then(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const results: [string, boolean][] = [];
  try {
    const started = Date.now();
    await waitUntilReady(service, apiUrl, () => spawnError);
    console.log(`ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const env = { ...process.env, API_URL: apiUrl, ALLOWED_ORIGIN: allowedOrigin };
    const tsx = ["--import", "tsx"];
    results.push(["client flow", await run("client flow", process.execPath, [...tsx, "src/flow.ts"], env)]);
    try {
      console.log("\n== account recovery: the service's mails read from the flow's SMTP server");
      await recoveryFlow(apiUrl, allowedOrigin, mailbox);
      results.push(["account recovery", true]);
    } catch (error) {
      console.error(`account recovery: ${error instanceof Error ? error.message : String(error)}`);
      results.push(["account recovery", false]);
    }
    try {
      console.log("\n== sharing: invite by mail, accept, list members, demote, remove");
      await sharingFlow(apiUrl, allowedOrigin, mailbox);
      results.push(["sharing", true]);
    } catch (error) {
      console.error(`sharing: ${error instanceof Error ? error.message : String(error)}`);
      results.push(["sharing", false]);
    }
    results.push([
      "browser tests",
      await run("browser tests", process.execPath, [...tsx, "--test", "--test-reporter=spec", "src/browser.test.ts", "src/console.test.ts"], env),
    ]);
    results.push(["package in a page", await run("package in a page", process.execPath, [...tsx, "--test", "--test-reporter=spec", "src/page.test.ts"], env)]);
    // The same database (DATA_DIR) and secret, as a second instance of the cluster would run.
    const shortUrl = `http://${HOST}:${shortPort}`;
    shortLived = spawn(command, ["serve"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...TEST_SETTINGS, HOST, PORT: String(shortPort), DATA_DIR: dataDir, ACCESS_TOKEN_TTL: "3" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    shortLived.stdout?.pipe(log);
    shortLived.stderr?.pipe(log);
    await waitUntilReady(shortLived, shortUrl, () => undefined);
    const short = { ...env, API_URL: shortUrl };
    results.push(["package", await run("package", process.execPath, [...tsx, "--test", "--test-reporter=spec", "src/kit.test.ts"], short)]);
  } catch (error) {
    console.error(`e2e: ${error instanceof Error ? error.message : String(error)}`);
    results.push(["service start", false]);
  } finally {
    if (shortLived) await stop(shortLived);
    await stop(service);
    await mailbox.stop();
    log.end();
  }

  const failed = results.filter(([, ok]) => !ok).map(([name]) => name);
  if (failed.length) {
    const tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-15).join("\n");
    console.error(`\nlast lines of the service log (${logPath}):\n${tail}`);
  }
  console.log(`\ne2e: ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.join(", ")})` : ""}`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
