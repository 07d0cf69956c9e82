/**
 * Compiles the services (config, ingest, query, schemas, storage) to JavaScript under dist/, as
 * they run when deployed:
 *   npm run build
 * Plain `node dist/ingest/sink/cli.js` instead of `node --import tsx ingest/sink/cli.ts`: Node 20
 * runs tsx's loader hooks on a worker thread of their own, a second V8 heap that costs every
 * service ~32 MB of RSS (sink idle: 102 → 70 MB). Incremental (dist/.tsbuildinfo): a build with
 * nothing changed takes a second or two. Tests and benchmarks' own code keep running from source.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './stack-config.ts';

export const DIST = join(REPO_ROOT, 'dist');

/** Entry points of the compiled services (absolute paths). */
export const BUILT = {
  sink: join(DIST, 'ingest/sink/cli.js'),
  query: join(DIST, 'query/cli.js'),
  writer: join(DIST, 'ingest/writer/cli.js'),
  tokens: join(DIST, 'query/auth/cli.js'),
};

/**
 * Brings dist/ up to date with the sources: runs tsc with tsconfig.build.json and copies the Avro
 * schema files beside schemas/records.js (it reads them next to itself). Throws with tsc's
 * output when the sources do not compile.
 */
export function buildServices(): void {
  const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
  // An incremental build trusts its build info and would not emit an output deleted since: when
  // any source's output is missing, build everything.
  if (!compiledSources().every((f) => existsSync(join(DIST, f.replace(/\.ts$/, '.js')))))
    rmSync(join(DIST, '.tsbuildinfo'), { force: true });
  try {
    execFileSync(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json')], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`the build (tsc -p tsconfig.build.json) failed:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`, {
      cause: err,
    });
  }
  mkdirSync(join(DIST, 'schemas'), { recursive: true });
  for (const f of readdirSync(join(REPO_ROOT, 'schemas')))
    if (f.endsWith('.avsc')) copyFileSync(join(REPO_ROOT, 'schemas', f), join(DIST, 'schemas', f));
}

/**
 * V8 flags each service runs with. The sink: a young generation of 4 MiB semi-spaces instead of
 * 16 (Node 20's default), because the sink's objects live for one message: measured with
 * `bench/sink-replay.ts` peak RSS 288–303 → 254–270 MiB, and `bench/sink.ts --records 10000000
 * --process` 1.04–1.10 → 0.90–0.93 CPU-s per million points (fewer pages touched per scavenge).
 */
export const V8_FLAGS: Record<keyof typeof BUILT, string[]> = {
  sink: ['--max-semi-space-size=4'],
  query: [],
  writer: [],
  tokens: [],
};

/** The TypeScript sources tsconfig.build.json compiles, relative to the repository (its `include`). */
function compiledSources(): string[] {
  const { include } = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  return include.flatMap((dir) =>
    (readdirSync(join(REPO_ROOT, dir), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => join(dir, f)),
  );
}

/**
 * Environment each service runs with, under the caller's own (which wins). The sink: glibc's
 * mmap threshold held at its default 128 KiB (`MALLOC_MMAP_THRESHOLD_`, mallopt(3)); glibc
 * otherwise raises it to the largest block freed so far (up to 32 MiB), after which Kafka's
 * fetch responses and message copies come from the main heap, whose freed pages it keeps: at
 * 1,000,000 points/s and past capacity the sink's heap held 195 MiB of a 292 MiB RSS with
 * 48 MiB of rows buffered. Held, blocks from 128 KiB are mapped and unmapped on their own:
 * `npx tsx bench/e2e.ts --rates 1000000 --step-seconds 20 --latency-seconds 5 --skip-baselines`,
 * alternating, peak RSS 270, 281 → 250, 243 MiB. The price: fresh pages for each large block
 * (a fetch response of up to STAAS_SINK_FETCH_MAX_BYTES above all): `npx tsx bench/sink.ts
 * --records 6000000 --process`, alternating, 0.33–0.36 → 0.34–0.43 CPU-s per million points
 * (peak RSS 218–226 → 198–204 MiB). Kept, for the RSS bound past capacity.
 */
export const SERVICE_ENV: Record<keyof typeof BUILT, Record<string, string>> = {
  sink: { MALLOC_MMAP_THRESHOLD_: '131072' },
  query: {},
  writer: {},
  tokens: {},
};

/** `env` (default: this process's) over `service`'s SERVICE_ENV: what to spawn the service with. */
export function serviceEnv(service: keyof typeof BUILT, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...SERVICE_ENV[service], ...env };
}

let built = false;

/**
 * The node arguments that run `service` as deployed: its V8 flags and its compiled entry point,
 * dist/ brought up to date first (once per process). Throws like buildServices.
 */
export function serviceArgs(service: keyof typeof BUILT): string[] {
  if (!built) buildServices();
  built = true;
  return [...V8_FLAGS[service], BUILT[service]];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = Date.now();
  buildServices();
  console.log(`build: dist/ up to date (${Date.now() - started} ms)`);
}
