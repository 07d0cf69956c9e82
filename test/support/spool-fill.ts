/**
 * Child process of the spool fault test: appends 10 KB entries to the spool in argv[2] until an
 * append fails (run under `ulimit -f`, so the file system refuses with EFBIG), then tries once
 * more and syncs, and prints what happened as JSON: {appended, errors, bytes}.
 */
import { Spool } from '../../ingest/writer/spool.ts';

const spool = Spool.open(process.argv[2]!, { segmentBytes: 1024 * 1024 });
const errors: string[] = [];
let appended = 0;
const entry = (i: number) => ({
  type: 'trend' as const,
  topic: 'staas.trend',
  partition: 0,
  key: `1:1/${i}`,
  count: 1,
  value: Buffer.alloc(10_000, i % 256),
});
for (let i = 0; i < 1000 && errors.length < 2; i++) {
  try {
    spool.append(entry(appended));
    appended++;
  } catch (err) {
    errors.push((err as NodeJS.ErrnoException).code ?? String(err));
  }
}
await spool.sync();
console.log(JSON.stringify({ appended, errors, bytes: spool.bytes }));
await spool.close();
