/**
 * Record-batch checksums in native code. Every Kafka record batch (magic v2) carries a CRC-32C of
 * its body; kafkajs computes it in JavaScript, a table lookup per byte: 13 % of the Writer's
 * CPU at 400,000 records/s (`node --cpu-prof`, ingest/writer/cli.ts). `@node-rs/crc32` computes
 * the same checksum with the CPU's CRC32 instruction (~12x faster here: 0.22 against 2.8 ms per MB).
 *
 * kafkajs has no hook for it, so this module puts the native function in Node's CommonJS module
 * cache under the path of kafkajs' own checksum module (`src/protocol/recordBatch/crc32C`) before
 * kafkajs loads it (it does so lazily, with the first produce request). It installs only if the
 * native binary loads (its platform package is an optional dependency), the path exists, nothing
 * has loaded it yet, and the native function agrees with kafkajs' own on sample buffers; otherwise
 * kafkajs keeps its JavaScript one. `nativeCrc32cInstalled` says which.
 * Consumers are unaffected: kafkajs does not verify checksums when it decodes.
 */
import Module, { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The native function; undefined when its platform binary is not installed (then kafkajs keeps its own). */
const native: ((input: Buffer) => number) | undefined = (() => {
  try {
    return (require('@node-rs/crc32') as { crc32c: (input: Buffer) => number }).crc32c;
  } catch {
    return undefined;
  }
})();

/** kafkajs' checksum module: `(buffer: Buffer) => number` (unsigned 32-bit). */
const KAFKAJS_CRC32C = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';

/**
 * The CRC-32C (Castagnoli) of `buffer` as an unsigned 32-bit integer, as kafkajs' module returns
 * it. Throws when the native binary is not installed (`nativeCrc32cInstalled` is then false).
 */
export function nativeCrc32c(buffer: Buffer): number {
  if (native === undefined) throw new Error('@node-rs/crc32 is not installed for this platform');
  return native(buffer) >>> 0;
}

/** Whether kafkajs' record batches are checksummed by `nativeCrc32c` in this process. */
export let nativeCrc32cInstalled = false;

function install(): void {
  if (native === undefined) return;
  let path: string;
  let jsCrc32c: (b: Buffer) => number;
  try {
    path = require.resolve(KAFKAJS_CRC32C);
    // kafkajs' JavaScript implementation, loaded from its own file (not the cached path) to compare.
    jsCrc32c = require(path.replace(/index\.js$/, 'crc32C.js')) as (b: Buffer) => number;
  } catch {
    return; // a kafkajs without that module: keep whatever it does
  }
  if (require.cache[path] !== undefined) return; // already loaded: its users hold the JavaScript one
  for (const sample of [Buffer.alloc(0), Buffer.from('123456789'), Buffer.from(Array.from({ length: 4099 }, (_, i) => (i * 7919) & 0xff))])
    if (nativeCrc32c(sample) !== jsCrc32c(sample) >>> 0) return;
  const mod = new Module(path);
  mod.filename = path;
  mod.loaded = true;
  mod.exports = nativeCrc32c;
  require.cache[path] = mod;
  nativeCrc32cInstalled = true;
}

install();
