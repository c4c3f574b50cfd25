/**
 * The fault suite's own PostgreSQL and Redis servers: processes it starts on free ports under a
 * temporary directory, so it may kill, pause and restart them without touching anyone else's.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const run = promisify(execFile);

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` until it answers true; fails with `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

/** The directory of PostgreSQL's server binaries: PHOS_FAULTS_PG_BIN, or Debian's newest. */
function postgresBinDir(): string {
  const configured = process.env.PHOS_FAULTS_PG_BIN;
  if (configured) return configured;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => existsSync(path.join(root, name, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest)
    throw new Error('No PostgreSQL server binaries: install postgresql, or set PHOS_FAULTS_PG_BIN to the directory holding initdb');
  return path.join(root, newest, 'bin');
}

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` OS user. */
const asRoot = process.getuid?.() === 0;
const POSTGRES_OS_USER = 'postgres';

function asPostgresUser(command: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', POSTGRES_OS_USER, '--', command, ...args]] : [command, args];
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  /** Stops the server: `fast` as a clean shutdown, `immediate` as a crash (recovery on start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  start(): Promise<void>;
  /** Ends every backend but the caller's (`pg_terminate_backend`, SQLSTATE 57P01 to each client). */
  terminateBackends(): Promise<number>;
  /** One query on a connection of its own, closed after. */
  query<Row extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<Row[]>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

/** A PostgreSQL cluster of the suite's own: initdb in a temporary directory, on a free port. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const root = mkdtempSync(path.join(tmpdir(), 'phos-faults-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', POSTGRES_OS_USER]);
    const { stdout: group } = await run('id', ['-g', POSTGRES_OS_USER]);
    chownSync(root, Number(stdout.trim()), Number(group.trim()));
  }
  const dataDir = path.join(root, 'data');
  const port = await freePort();
  const exec = (command: string, args: string[]) => run(...asPostgresUser(path.join(bin, command), args));
  await exec('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  // fsync off: the suite kills processes, never the host, and the page cache survives those.
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const query = async <Row extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<Row>(text, values)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  const server: PostgresServer = {
    url,
    async start() {
      await exec('pg_ctl', ['-D', dataDir, '-o', options, '-l', path.join(root, 'server.log'), '-w', '-t', '120', 'start']);
    },
    async stop(mode) {
      await exec('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    async terminateBackends() {
      const rows = await query<{ n: string }>(
        `select count(pg_terminate_backend(pid)) as n from pg_stat_activity where pid <> pg_backend_pid() and backend_type = 'client backend'`,
      );
      return Number(rows[0]?.n ?? 0);
    },
    query,
    async destroy() {
      await server.stop('immediate').catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface RedisServer {
  url: string;
  /** SIGKILL, as a crash: what the AOF had not written is lost. */
  kill(): Promise<void>;
  /** Starts it again on the same port and files (the AOF is replayed). */
  start(): Promise<void>;
  /** SIGSTOP: connections stay open and nothing answers. */
  pause(): void;
  resume(): void;
  /** One command on a connection of its own. */
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
  /** Closes every pub/sub connection (`CLIENT KILL TYPE pubsub`): their messages until reconnection are lost. */
  killPubSubConnections(): Promise<number>;
  destroy(): Promise<void>;
}

/** A redis-server of the suite's own, configured as production's: AOF every second, noeviction. */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'phos-faults-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec'];
  args.push('--maxmemory-policy', 'noeviction', '--save', '', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const admin = () => {
    const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null, lazyConnect: true });
    client.on('error', () => undefined);
    return client;
  };
  const answers = async () => {
    const client = admin();
    try {
      await client.connect();
      await client.ping();
      return true;
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const server: RedisServer = {
    url,
    async start() {
      const started = spawn('redis-server', args, { stdio: 'ignore' });
      child = started;
      exited = new Promise((resolve) => started.once('exit', () => resolve()));
      await until('redis-server to answer', answers, 30_000);
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async call(command, ...commandArgs) {
      const client = admin();
      try {
        await client.connect();
        return await client.call(command, ...commandArgs);
      } finally {
        client.disconnect();
      }
    },
    async killPubSubConnections() {
      return Number(await server.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
    },
    async destroy() {
      child?.kill('SIGCONT');
      child?.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
