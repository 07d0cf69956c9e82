/**
 * The local Apache Kafka broker: a single KRaft node (broker + controller) run from the
 * broker's Maven Central jars with the machine's Java 17.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logLevel } from 'kafkajs';
import { createKafka } from '../ingest/kafka/client.ts';
import { REPO_ROOT, type StackConfig } from './stack-config.ts';
import { assertPortsFree, runningPid, startDetached, waitReady, type ServiceFiles } from './process.ts';

/** Keep in step with ops/kafka/pom.xml: the jar folder is cached per version. */
export const KAFKA_VERSION = '4.1.1';

/** A Kafka node's files: `dir` (default the single node's `<state>/kafka`) and `name` in messages. */
export function kafkaFiles(
  cfg: StackConfig,
  dir = join(cfg.stateDir, 'kafka'),
  name = 'kafka',
): ServiceFiles & { dir: string; dataDir: string; configFile: string } {
  return {
    name,
    dir,
    dataDir: join(dir, 'data'),
    configFile: join(dir, 'server.properties'),
    pidFile: join(dir, 'kafka.pid'),
    logFile: join(dir, 'kafka.log'),
    marker: join(dir, 'server.properties'),
  };
}

function libsDir(cfg: StackConfig): string {
  return join(cfg.cacheDir, `kafka-${KAFKA_VERSION}`, 'libs');
}

function javaBin(cfg: StackConfig): string {
  return cfg.kafka.javaHome === undefined ? 'java' : join(cfg.kafka.javaHome, 'bin', 'java');
}

export function ensureKafkaJars(cfg: StackConfig): string {
  const libs = libsDir(cfg);
  if (!existsSync(join(libs, '.complete'))) {
    console.log(`kafka: fetching broker ${KAFKA_VERSION} jars from Maven Central into ${libs}`);
    execFileSync('bash', [join(REPO_ROOT, 'ops/kafka/fetch.sh'), libs], { stdio: 'inherit' });
  }
  return libs;
}

function checkJava(cfg: StackConfig): void {
  // `java -version` prints to stderr.
  const res = spawnSync(javaBin(cfg), ['-version'], { encoding: 'utf8' });
  if (res.error !== undefined) throw new Error(`kafka: cannot run ${javaBin(cfg)}: ${res.error.message}`);
  const out = `${res.stdout}${res.stderr}`;
  const m = /version "(\d+)/.exec(out);
  if (m === null || Number(m[1]) < 17) {
    throw new Error(`kafka: the broker needs Java 17 or newer; ${javaBin(cfg)} reports: ${out.split('\n')[0]}`);
  }
}

/**
 * One KRaft node (process.roles=broker,controller) as the stack runs it: the single-node stack's
 * only node, or one of cluster mode's quorum (ops/kafka-cluster.ts).
 */
export interface KafkaNode {
  files: ReturnType<typeof kafkaFiles>;
  nodeId: number;
  host: string;
  port: number;
  controllerPort: number;
  /** controller.quorum.voters: `id@host:port` of every controller. */
  voters: string;
  heap: string;
  /** Replicas of the internal topics (__consumer_offsets, transaction and share state); 1 or 3. */
  internalReplicas: number;
  tls: StackConfig['kafka']['tls'];
  /** Cluster id file shared by the nodes of one cluster (written once, kept across down/up). */
  clusterIdFile: string;
}

function serverProperties(node: KafkaNode): string {
  const { host, port, controllerPort, tls } = node;
  const tlsListener = tls === undefined ? '' : `,SSL://${host}:${tls.port}`;
  // PEM keystore: the file holds the private key and the certificate chain (no JKS step).
  const tlsSettings =
    tls === undefined
      ? ''
      : `ssl.keystore.type=PEM\nssl.keystore.location=${tls.keystorePem}\nssl.client.auth=none\nssl.endpoint.identification.algorithm=\n`;
  // With replicas, one may be down: writes with acks=all still need 2 in sync (Kafka's
  // "min.insync.replicas" guidance for replication factor 3); topics created without settings get it too.
  const minIsr = Math.min(2, node.internalReplicas);
  return `# Written by ops/kafka.ts on every start; edit that file, not this one.
process.roles=broker,controller
node.id=${node.nodeId}
controller.quorum.voters=${node.voters}
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}${tlsListener}
advertised.listeners=PLAINTEXT://${host}:${port}${tlsListener}
${tlsSettings}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
log.dirs=${node.files.dataDir}
# Internal topics: ${node.internalReplicas} replica(s).
offsets.topic.replication.factor=${node.internalReplicas}
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=${node.internalReplicas}
transaction.state.log.min.isr=${minIsr}
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=${node.internalReplicas}
share.coordinator.state.topic.min.isr=${minIsr}
default.replication.factor=${node.internalReplicas}
min.insync.replicas=${minIsr}
num.partitions=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# Messages are whole Avro batches: allow up to 16 MiB.
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
log.retention.hours=168
log.segment.bytes=268435456
num.network.threads=2
num.io.threads=4
`;
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`;

/** A KRaft cluster id: 16 random bytes, base64url; never starting with '-', which tools read as an option. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * True when the broker at `address` (host:port) answers metadata requests (and, if given, is our
 * cluster), with a controller elected and at least `minBrokers` brokers registered.
 */
export async function answersMetadata(address: string, clusterId?: string, minBrokers = 1): Promise<boolean> {
  const kafka = createKafka(
    { brokers: [address], clientId: 'staas-stack' },
    { logLevel: logLevel.NOTHING, connectionTimeoutMs: 1000, requestTimeoutMs: 2000, retries: 0 },
  );
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return (
      cluster.brokers.length >= minBrokers && cluster.controller !== null && (clusterId === undefined || cluster.clusterId === clusterId)
    );
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export type StartResult = 'started' | 'already running';

/** The single-node stack's broker: node 1, its own quorum, internal topics with one replica. */
export function singleNode(cfg: StackConfig): KafkaNode {
  const files = kafkaFiles(cfg);
  return {
    files,
    nodeId: 1,
    host: cfg.kafka.host,
    port: cfg.kafka.port,
    controllerPort: cfg.kafka.controllerPort,
    voters: `1@${cfg.kafka.host}:${cfg.kafka.controllerPort}`,
    heap: cfg.kafka.heap,
    internalReplicas: 1,
    tls: cfg.kafka.tls,
    clusterIdFile: join(files.dir, 'cluster.id'),
  };
}

export async function startKafka(cfg: StackConfig): Promise<StartResult> {
  const node = singleNode(cfg);
  return startKafkaNode(cfg, node, [
    [node.host, node.port, 'STAAS_KAFKA_PORT'],
    [node.host, node.controllerPort, 'STAAS_KAFKA_CONTROLLER_PORT'],
    ...(node.tls === undefined ? [] : [[node.host, node.tls.port, 'STAAS_KAFKA_TLS_PORT'] as [string, number, string]]),
  ]);
}

/**
 * Starts one KRaft node unless it runs (formatting its storage on the first start) and waits
 * until it answers metadata requests of our cluster with a controller elected: a cluster node
 * is ready once a quorum of its controllers runs. `ports`: the ones to check free first, with the
 * variable that moves each. Throws ServiceStartError (with its log's tail) when it exits or is
 * not ready within cfg.startTimeoutMs.
 */
export async function startKafkaNode(cfg: StackConfig, node: KafkaNode, ports: [string, number, string][]): Promise<StartResult> {
  const { files } = node;
  if (runningPid(files) !== undefined) return 'already running';
  checkJava(cfg);
  const libs = ensureKafkaJars(cfg);
  mkdirSync(files.dataDir, { recursive: true });
  writeFileSync(files.configFile, serverProperties(node));
  const log4j = join(files.dir, 'log4j2.properties');
  writeFileSync(log4j, LOG4J2);
  const classpath = `${libs}/*`;

  await assertPortsFree(files.name, ports);

  // KRaft storage is formatted once; the cluster id is kept so data survives down/up.
  if (!existsSync(node.clusterIdFile)) writeFileSync(node.clusterIdFile, newClusterId());
  const clusterId = readFileSync(node.clusterIdFile, 'utf8').trim();
  if (!existsSync(join(files.dataDir, 'meta.properties'))) {
    execFileSync(
      javaBin(cfg),
      [
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp',
        classpath,
        'kafka.tools.StorageTool',
        'format',
        '--ignore-formatted',
        `--cluster-id=${clusterId}`,
        '-c',
        files.configFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  }

  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const pid = startDetached(
    files,
    javaBin(cfg),
    [
      `-Xms${node.heap}`,
      `-Xmx${node.heap}`,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      files.configFile,
    ],
    { cwd: files.dir },
  );
  await waitReady(files, pid, () => answersMetadata(`${node.host}:${node.port}`, clusterId), cfg.startTimeoutMs, logOffset);
  return 'started';
}

export async function kafkaHealthy(cfg: StackConfig): Promise<boolean> {
  return answersMetadata(`${cfg.kafka.host}:${cfg.kafka.port}`);
}
