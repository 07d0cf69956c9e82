/**
 * Batches Kafka refused for good are set aside here, so that one bad batch never blocks the ones
 * behind it and nothing is lost silently: `<spoolDir>/quarantine/<time>-<topic>-<partition>-<n>.avro`
 * holds the message value (an Avro container file any Avro tool reads) and a `.json` beside it
 * says why, with the topic, partition, key and record count. Both are fsynced before the batch
 * leaves memory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SealedBatch } from './sealed-batch.ts';

export class Quarantine {
  private n = 0;

  constructor(readonly dir: string) {}

  /** Writes the batch and its reason; returns the .avro path. Throws the file system's error. */
  put(batch: SealedBatch, reason: string, now = Date.now()): string {
    mkdirSync(this.dir, { recursive: true });
    const base = join(this.dir, `${new Date(now).toISOString().replaceAll(':', '-')}-${batch.topic}-${batch.partition}-${this.n++}`);
    const meta = { reason, topic: batch.topic, partition: batch.partition, key: batch.key, type: batch.type, count: batch.count, at: now };
    writeDurably(`${base}.avro`, batch.value);
    writeDurably(`${base}.json`, Buffer.from(`${JSON.stringify(meta)}\n`));
    return `${base}.avro`;
  }
}

function writeDurably(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    let written = 0;
    while (written < data.length) written += writeSync(fd, data, written, data.length - written, written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
