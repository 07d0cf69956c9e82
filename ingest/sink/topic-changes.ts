/**
 * How the sink follows changes of its topics (issue 9 item 4), beside the consumer:
 *   - every `refreshMs` it reads the topics' ids and partition counts (ingest/kafka/topic-ids.ts)
 *     and acts on what TopologyTracker says changed: a missing or deleted topic is logged once
 *     (and waited for at start), new partitions are logged (kafkajs assigns them after its own
 *     metadata refresh), and a re-created topic (new id) is read again from the start;
 *   - kafkajs's out-of-range reset (its log line, see sink.ts) is reported when the partition's
 *     next batch shows where it went: forward (retention removed messages: logged and counted),
 *     or back (past the end of a re-created or truncated topic: read from there);
 *   - commits carry the topic id (commit metadata "topic-id:<id>"), so a committed offset of an
 *     earlier topic of the same name is recognised at the next join, also after a restart.
 * Positions are started over in the commit step (CommitOffsets.reset): what was begun before a
 * change commits nothing afterwards.
 */
import type { Kafka } from 'kafkajs';
import { adminWithin } from '../kafka/admin.ts';
import { TopicIdReader, type TopicState } from '../kafka/topic-ids.ts';
import type { SinkMetrics } from './metrics.ts';
import type { CommitOffsets } from './steps/commit.ts';
import { TopologyTracker, type TopologyChange } from './topology.ts';

/** Offset commits carry the topic's id: a committed offset of an earlier topic of the same name is recognised. */
const TOPIC_ID_METADATA = 'topic-id:';
/** How many notes /health keeps. */
const KEPT_NOTES = 10;

/** A committed offset and the id of the topic it was committed for (when the committer knew it). */
interface Committed {
  offset: number;
  topicId: string | undefined;
}

export interface TopicChangesDeps {
  kafka: Kafka;
  /** The topics consumed (trend, alarm, element). */
  topics: string[];
  groupId: string;
  /** How often (ms) the topics' metadata is read. */
  refreshMs: number;
  commit: CommitOffsets;
  metrics: SinkMetrics;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** Moves the consumer's position of a partition (kafkajs consumer.seek; throws when not running). */
  seek(topic: string, partition: number, offset: string): void;
}

export class TopicChanges {
  private readonly ids: TopicIdReader;
  private readonly tracker = new TopologyTracker();
  private timer: NodeJS.Timeout | undefined;
  private watching = false;
  private idsFailing = false;
  private stopped = false;
  /** Ends the wait for missing topics at once on stop(). */
  private wake: (() => void) | undefined;
  /** This member's partitions per topic (the last group join). */
  private assignment: Record<string, number[]> = {};
  /**
   * The group's committed offsets as last known ("topic:partition"): read before joining and at
   * each join, and this member's own commits. Where an offset reset came from (kafkajs commits
   * its reset position itself, so a read racing it finds nothing), and for which topic id.
   */
  private readonly lastCommitted = new Map<string, Committed>();
  /** The read of committed offsets started at the last join. */
  private joinOffsets: Promise<void> = Promise.resolve();
  /**
   * The check of those offsets' topic ids: no batch is handed on before it ends, or this member
   * could commit a re-created topic's offsets (with the new id) over the stale ones it checks.
   */
  private joinCheck: Promise<void> = Promise.resolve();
  private joinChecking = false;
  /** Partitions sought back to the start of a re-created topic ("topic:partition" → offset sought). */
  private readonly seekTargets = new Map<string, number>();
  /** Partitions whose position kafkajs reset (out of range), with where they stood, until their next batch says where they went. */
  private readonly resets = new Map<string, number | undefined>();
  /** Re-created topics being read again: until each partition is committed up to its end at detection, /health says so. */
  private readonly recovering = new Map<string, { what: string; targets: Map<number, number> }>();
  private readonly kept: string[] = [];

  constructor(private readonly deps: TopicChangesDeps) {
    this.ids = new TopicIdReader(deps.kafka);
  }

  /**
   * Looks at the topics until all exist (a missing one is logged once), then reads the group's
   * committed offsets. False when stop() came first.
   */
  async waitForTopics(): Promise<boolean> {
    await this.look();
    while (this.tracker.missing.length > 0 && !this.stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.deps.refreshMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (!this.stopped) await this.look();
    }
    if (this.stopped) return false;
    await this.readCommitted();
    return true;
  }

  /** Looks every `refreshMs` from now on. */
  start(): void {
    this.timer ??= setInterval(() => void this.look(), this.deps.refreshMs);
  }

  /** No more looks (a wait for missing topics ends at once). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.wake?.();
  }

  async close(): Promise<void> {
    this.stop();
    await this.ids.close();
  }

  /** A group join gave this member `assignment`: committed offsets are read again and checked for old topic ids. */
  joined(assignment: Record<string, number[]>): void {
    this.assignment = assignment;
    this.seekTargets.clear();
    this.joinOffsets = this.readCommitted();
    this.joinChecking = true;
    const check: Promise<void> = this.checkCommittedTopicIds()
      .catch((err: unknown) => this.deps.log.warn(`cannot check the committed offsets' topic ids: ${(err as Error).message}`))
      .finally(() => {
        if (this.joinCheck === check) this.joinChecking = false;
      });
    this.joinCheck = check;
  }

  /** kafkajs reset this partition's position (out of range): reported with the partition's next batch. */
  outOfRange(topic: string, partition: number): void {
    this.resets.set(`${topic}:${partition}`, this.deps.commit.position(topic, partition));
  }

  /**
   * Before a fetched batch (first message at `first`, fetched from `fetchedFrom`) is handed on:
   * waits for the check of committed topic ids after a join, reports a reset the batch completes; false when the batch was fetched before a seek to the
   * start of a re-created topic (drop it unresolved: its messages are read again from there).
   */
  async beforeBatch(
    topic: string,
    partition: number,
    first: number,
    fetchedFrom: string | undefined,
    end: number,
    /** kafkajs's heartbeat of the batch: the check can take longer than the session timeout when Kafka is slow. */
    heartbeat?: () => Promise<void>,
  ): Promise<boolean> {
    while (this.joinChecking) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.joinCheck, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
      if (this.joinChecking) await heartbeat?.().catch(() => undefined);
    }
    const key = `${topic}:${partition}`;
    if (this.resets.has(key)) {
      const from = this.resets.get(key);
      this.resets.delete(key);
      this.seekTargets.delete(key); // kafkajs's reset supersedes a seek of ours
      await this.reportOffsetReset(topic, partition, from, first, end);
    }
    const target = this.seekTargets.get(key);
    if (target === undefined) return true;
    if (fetchedFrom !== String(target) && first > target) return false;
    this.seekTargets.delete(key);
    this.deps.commit.reset(topic, partition, first);
    return true;
  }

  /** `offsets` with the topic id as commit metadata ("topic-id:<id>"; null while unknown). */
  withTopicIds<T extends { topic: string }>(offsets: T[]): (T & { metadata: string | null })[] {
    return offsets.map((o) => {
      const id = this.tracker.id(o.topic);
      return { ...o, metadata: id === undefined ? null : `${TOPIC_ID_METADATA}${id}` };
    });
  }

  /** This member committed `offsets` (as given by withTopicIds). */
  committed(offsets: { topic: string; partition: number; offset: string; metadata: string | null }[]): void {
    for (const o of offsets)
      this.lastCommitted.set(`${o.topic}:${o.partition}`, { offset: Number(o.offset), topicId: topicIdOf(o.metadata) });
  }

  /**
   * /health reasons: topics that do not exist, and re-created topics still being read again (until
   * this member committed up to the end its partitions had when the change was noticed).
   */
  reasons(): string[] {
    const reasons = this.tracker.missing.map((t) => `topic ${t} does not exist`);
    for (const [topic, r] of this.recovering) {
      const behind: string[] = [];
      for (const [partition, end] of r.targets) {
        const committed = this.deps.commit.committed(topic, partition) ?? 0;
        if (!(this.assignment[topic] ?? []).includes(partition) || committed >= end) r.targets.delete(partition);
        else behind.push(`[${partition}] committed ${committed} of ${end}`);
      }
      if (behind.length === 0) this.recovering.delete(topic);
      else reasons.push(`${r.what}: reading it again from the start, ${behind.join(', ')}`);
    }
    return reasons;
  }

  /** The last changes noticed, each with its time (ISO). */
  get notes(): string[] {
    return [...this.kept];
  }

  /** Reads the topics' ids and partition counts and acts on what changed (one look at a time; failures are logged once per streak). */
  private async look(): Promise<void> {
    if (this.watching) return;
    this.watching = true;
    try {
      let states: Map<string, TopicState>;
      try {
        states = await this.ids.read(this.deps.topics);
      } catch (err) {
        if (!this.idsFailing)
          this.deps.log.warn(
            `cannot read the topics' ids: ${(err as Error).message} (trying again every ${this.deps.refreshMs} ms; meanwhile a re-created topic is noticed only when its offsets go back)`,
          );
        this.idsFailing = true;
        return;
      }
      this.idsFailing = false;
      for (const change of this.tracker.observe(states)) await this.onChange(change);
    } finally {
      this.watching = false;
    }
  }

  private async onChange(change: TopologyChange): Promise<void> {
    const every = `every ${this.deps.refreshMs / 1000} s`;
    switch (change.kind) {
      case 'missing':
        return this.note('warn', `topic ${change.topic} does not exist: waiting for it to be created (looking ${every})`);
      case 'deleted':
        return this.note('warn', `topic ${change.topic} (id ${change.id}) was deleted: waiting for it to be created again`);
      case 'created':
        return this.note('info', `topic ${change.topic} exists now (id ${change.id})`);
      case 'partitions':
        return this.note(
          'info',
          `topic ${change.topic} has ${change.to} partitions now (was ${change.from}); the group takes them on at its next rebalance`,
        );
      case 'recreated': {
        const what = `topic ${change.topic} was re-created (topic id ${change.oldId} -> ${change.newId})`;
        this.deps.metrics.topicRecreated.inc({ topic: change.topic, detected_by: 'topic-id' });
        await this.readTopicAgain(change.topic, what);
      }
    }
  }

  /**
   * A topic was deleted and created again: this member's partitions of it are read from their
   * start (its low watermark), and that start is committed at the next commit, so that a restart
   * resumes there too; what was begun of the old topic changes no committed offset.
   */
  private async readTopicAgain(topic: string, what: string, partitions = this.assignment[topic] ?? []): Promise<void> {
    const ends = (await adminWithin(this.deps.kafka, 10_000, (a) => a.fetchTopicOffsets(topic))) ?? [];
    const stood: string[] = [];
    const holds: string[] = [];
    const targets = new Map<number, number>();
    for (const partition of partitions) {
      const end = ends.find((e) => e.partition === partition);
      const low = end === undefined ? 0 : Number(end.low);
      stood.push(`[${partition}]@${this.deps.commit.position(topic, partition) ?? 'none'}`);
      holds.push(`[${partition}] ${low}..${end?.high ?? '?'}`);
      this.deps.commit.reset(topic, partition, low);
      this.lastCommitted.delete(`${topic}:${partition}`);
      this.seekTargets.set(`${topic}:${partition}`, low);
      try {
        this.deps.seek(topic, partition, String(low));
      } catch (err) {
        this.deps.log.warn(`cannot seek ${topic}[${partition}] to ${low}: ${(err as Error).message}`);
      }
      if (end !== undefined && Number(end.high) > low) targets.set(partition, Number(end.high));
    }
    this.note(
      'error',
      `${what}: reading it again from the start (${holds.join(', ') || 'no partition assigned here'}); this member's partitions stood at ${stood.join(', ') || 'none'}`,
    );
    if (targets.size > 0) this.recovering.set(topic, { what, targets });
  }

  /**
   * kafkajs reset a partition's position that was out of range to the earliest offset. Forward
   * (the messages were removed by retention): logs and counts what was skipped. Backward (past
   * the end of the partition: the topic was re-created or truncated): reads from there again.
   */
  private async reportOffsetReset(topic: string, partition: number, from: number | undefined, to: number, end: number): Promise<void> {
    await this.joinOffsets;
    from ??= this.lastCommitted.get(`${topic}:${partition}`)?.offset;
    this.deps.metrics.offsetResets.inc({ topic, partition: String(partition) });
    if (from === undefined) {
      this.note('warn', `offset reset: ${topic}[${partition}] to ${to} (out of range; where it stood is unknown)`);
    } else if (to >= from) {
      this.deps.metrics.offsetResetSkipped.inc({ topic, partition: String(partition) }, to - from);
      this.note(
        'warn',
        `offset reset: ${topic}[${partition}] from ${from} to ${to}: ${to - from} messages skipped (no longer in Kafka, e.g. removed by retention)`,
      );
    } else {
      const what = `${topic}[${partition}] went back from offset ${from} to ${to} (the topic was re-created or truncated)`;
      this.deps.metrics.topicRecreated.inc({ topic, detected_by: 'offsets' });
      this.deps.commit.reset(topic, partition, to);
      this.note('error', `${what}: reading it again from ${to}`);
      if (end > to) this.recovering.set(topic, { what, targets: new Map([[partition, end]]) });
    }
  }

  private note(level: 'info' | 'warn' | 'error', line: string): void {
    this.deps.log[level](line);
    this.kept.push(`${new Date().toISOString()} ${line}`);
    if (this.kept.length > KEPT_NOTES) this.kept.shift();
  }

  /** Reads the group's committed offsets of the sink's topics into `lastCommitted` (unchanged when unreadable). */
  private async readCommitted(): Promise<void> {
    const got = await adminWithin(this.deps.kafka, 10_000, (a) => a.fetchOffsets({ groupId: this.deps.groupId, topics: this.deps.topics }));
    for (const t of got ?? [])
      for (const p of t.partitions) {
        const key = `${t.topic}:${p.partition}`;
        if (Number(p.offset) === -1) this.lastCommitted.delete(key); // nothing committed (e.g. removed with a deleted topic)
        if (Number(p.offset) < 0) continue; // kafkajs's own reset marker (-2: earliest): keep what was known
        this.lastCommitted.set(key, { offset: Number(p.offset), topicId: topicIdOf(p.metadata) });
      }
  }

  /**
   * After a join: a partition whose committed offset was committed for another topic id than the
   * topic has now (it was re-created while no member read it) is read from the start.
   */
  private async checkCommittedTopicIds(): Promise<void> {
    await this.joinOffsets;
    const committed = this.lastCommitted;
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      const now = this.tracker.id(topic);
      const stale = partitions.filter((p) => {
        const c = committed.get(`${topic}:${p}`);
        return now !== undefined && c?.topicId !== undefined && c.topicId !== now;
      });
      if (stale.length === 0) continue;
      const old = committed.get(`${topic}:${stale[0]}`)!.topicId!;
      this.deps.metrics.topicRecreated.inc({ topic, detected_by: 'committed-topic-id' });
      await this.readTopicAgain(topic, `topic ${topic} was re-created (topic id ${old} -> ${now}, seen in the committed offsets)`, stale);
    }
  }
}

function topicIdOf(metadata: string | null | undefined): string | undefined {
  return metadata?.startsWith(TOPIC_ID_METADATA) === true ? metadata.slice(TOPIC_ID_METADATA.length) : undefined;
}
