/**
 * One short admin conversation with Kafka that gives up after a bound: the Writer's metadata
 * reads (partition counts, topic configs) must not hold it up while Kafka is down.
 */
import type { Admin, Kafka } from 'kafkajs';

/**
 * Connects an admin client and runs `fn` with it; resolves undefined when that takes longer than
 * `timeoutMs` or fails (Kafka unreachable). The client is always disconnected.
 */
export async function adminWithin<T>(kafka: Kafka, timeoutMs: number, fn: (admin: Admin) => Promise<T>): Promise<T | undefined> {
  const admin = kafka.admin();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      admin.connect().then(() => fn(admin)),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    void admin.disconnect().catch(() => undefined);
  }
}
