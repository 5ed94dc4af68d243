// A real `sallyport serve` for the browser tests: its own temporary SQLite database, any free port
// on 127.0.0.1, the built web app from web-client/dist. Reads the listening URL and the first
// administrator's enrolment link from stdout; keeps stderr (the logs) in a file for failures.

import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const WEB_CLIENT = resolve(here, '..', '..');
export const REPO = resolve(WEB_CLIENT, '..');

/** The server binary: $SALLYPORT_BIN, or the debug build in the repository. */
export function serverBinary() {
  const bin = process.env.SALLYPORT_BIN || join(REPO, 'target', 'debug', 'sallyport');
  if (!existsSync(bin)) {
    throw new Error(`no server binary at ${bin}: run \`cargo build --bins\` first (or set SALLYPORT_BIN)`);
  }
  return bin;
}

/** The built web app: $SALLYPORT_WEB_DIR, or web-client/dist. */
export function webDir() {
  const dir = process.env.SALLYPORT_WEB_DIR || join(WEB_CLIENT, 'dist');
  if (!existsSync(join(dir, 'index.html'))) {
    throw new Error(`no built web app in ${dir} (index.html missing): run \`npm run build\` in web-client first`);
  }
  return dir;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 35_000;

/**
 * Starts `sallyport serve` and resolves once it prints `sallyport listening on URL`.
 * `adminName` names the first administrator (`--admin-name`); `extraArgs` go after the others
 * (`--push-allow-insecure-endpoints` for a local push service).
 * Returns { url, origin, adminLink, dataDir, stdout, invite(name, roles), logTail(), stop() }. The
 * logs (stderr) go to `server.log` in the data directory, beside the database.
 */
export async function startServer({ adminName = null, extraArgs = [] } = {}) {
  const bin = serverBinary();
  const web = webDir();
  const dataDir = mkdtempSync(join(tmpdir(), 'sallyport-web-e2e-'));
  const logPath = join(dataDir, 'server.log');
  const log = createWriteStream(logPath);

  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--web-dir', web];
  if (adminName !== null) args.push('--admin-name', adminName);
  args.push(...extraArgs);
  const child = spawn(bin, args, {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SALLYPORT_LOG: process.env.SALLYPORT_LOG || 'info', NO_COLOR: '1' },
  });
  child.stderr.pipe(log);
  // Never outlive the test process (an interrupted run, a hook that threw).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));

  let exited = null;
  const exitPromise = new Promise((resolveExit) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit(exited);
    });
  });

  let stdout = '';
  let adminLink = null;
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sallyport serve printed no listening line within ${START_TIMEOUT_MS} ms; stdout:\n${stdout}\nlog:\n${tail(logPath)}`)),
      START_TIMEOUT_MS,
    );
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const admin = /^administrator enrolment link: (\S+)$/m.exec(stdout);
      if (admin) adminLink = admin[1];
      const listening = /^sallyport listening on (\S+)$/m.exec(stdout);
      if (listening) {
        clearTimeout(timer);
        resolveUrl(listening[1]);
      }
    });
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`sallyport serve exited (code ${code}, signal ${signal}) before listening; stdout:\n${stdout}\nlog:\n${tail(logPath)}`));
    });
  });

  const origin = new URL(url).origin;
  let stopped = false;

  return {
    url: url.replace(/\/$/, ''),
    origin,
    adminLink,
    dataDir,
    /** Runs `sallyport admin invite` on the same database; resolves to the printed link. */
    async invite(name, roles = ['staff']) {
      const roleArgs = roles.flatMap((r) => ['--role', r]);
      const { stdout: out } = await run(serverBinary(), ['admin', 'invite', '--name', name, ...roleArgs, '--data-dir', dataDir], { cwd: REPO });
      const link = out.trim().split('\n').pop();
      if (!/\/enrol#/.test(link)) throw new Error(`admin invite printed no link: ${out}`);
      return link;
    },
    /** Runs `sallyport admin invite --account`: a link that enrols another device on the account
     *  of the person named `name` (found in `sallyport admin devices`). */
    async inviteDevice(name) {
      const { stdout: list } = await run(serverBinary(), ['admin', 'devices', '--data-dir', dataDir], { cwd: REPO });
      const row = list.split('\n').find((l) => l.includes(name));
      const account = row?.trim().split(/\s+/)[1];
      if (!account) throw new Error(`no device of ${name} in: ${list}`);
      const { stdout: out } = await run(serverBinary(), ['admin', 'invite', '--account', account, '--name', name, '--role', 'staff', '--data-dir', dataDir], { cwd: REPO });
      const link = out.trim().split('\n').pop();
      if (!/\/enrol#/.test(link)) throw new Error(`admin invite --account printed no link: ${out}`);
      return link;
    },
    /** Everything the server printed on stdout so far. */
    get stdout() {
      return stdout;
    },
    /** The last lines of the server's log (stderr). */
    logTail(lines = 40) {
      return tail(logPath, lines);
    },
    get running() {
      return exited === null;
    },
    /** SIGTERM, wait for the graceful shutdown (SIGKILL after a timeout). */
    async stop({ keepData = false } = {}) {
      if (!stopped) {
        stopped = true;
        if (exited === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exitPromise;
          clearTimeout(timer);
        }
        await new Promise((r) => log.end(r));
      }
      if (!keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function tail(path, lines = 40) {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
