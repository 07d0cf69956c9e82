/**
 * ZooKeeper for the cluster mode's replicated ClickHouse tables: Debian's `zookeeper` package
 * (installed by ops/bootstrap.sh), run as a plain java process with our own zoo.cfg and data under
 * `<state>/cluster/zookeeper` (never the package's /etc/zookeeper or /var/lib/zookeeper, no
 * systemd). One standalone server: the cluster runs on one machine anyway.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { StartResult } from './kafka.ts';
import { assertPortsFree, runningPid, ServiceStartError, startDetached, waitReady, type ServiceFiles } from './process.ts';
import type { StackConfig } from './stack-config.ts';

/** Where the package puts the server jar; its manifest's Class-Path names the other jars. */
const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
/** slf4j's simple binding (a dependency of the package): log lines to stderr, i.e. our log file. */
const SLF4J_SIMPLE_JAR = '/usr/share/java/slf4j-simple.jar';

export function zookeeperFiles(cfg: StackConfig): ServiceFiles & { dir: string; configFile: string } {
  const dir = join(cfg.stateDir, 'cluster', 'zookeeper');
  return {
    name: 'zookeeper',
    dir,
    configFile: join(dir, 'zoo.cfg'),
    pidFile: join(dir, 'zookeeper.pid'),
    logFile: join(dir, 'zookeeper.log'),
    marker: join(dir, 'zoo.cfg'),
  };
}

/**
 * zoo.cfg (ZooKeeper administrator's guide, "Configuration Parameters"): the AdminServer is off
 * (it would take port 8080, the Query API's), four-letter words limited to the health checks.
 */
function zooCfg(cfg: StackConfig, dir: string): string {
  return `# Written by ops/zookeeper.ts on every start; edit that file, not this one.
tickTime=2000
dataDir=${join(dir, 'data')}
clientPort=${cfg.zookeeper.port}
clientPortAddress=${cfg.zookeeper.host}
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
`;
}

/**
 * True when the server serves requests: its `srvr` four-letter word names its mode
 * ("Mode: standalone") within 2 s. Not `ruok`: ZooKeeper answers `imok` as soon as it listens,
 * while it is still loading its database and closes every session ("ZooKeeperServer not
 * running"); `srvr` then says "This ZooKeeper instance is not currently serving requests".
 * ClickHouse 18.16 started at that moment aborts on its Replicated tables (seen on every second
 * restart of the cluster with data).
 */
export function zookeeperHealthy(cfg: StackConfig): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: cfg.zookeeper.host, port: cfg.zookeeper.port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.on('connect', () => socket.write('srvr'));
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('end', () => done(/^Mode: /m.test(answer)));
    socket.on('error', () => done(false));
  });
}

/** Starts ZooKeeper unless ours is running; resolves when it serves requests (`zookeeperHealthy`). */
export async function startZooKeeper(cfg: StackConfig): Promise<StartResult> {
  const files = zookeeperFiles(cfg);
  if (runningPid(files) !== undefined) return 'already running';
  if (!existsSync(ZOOKEEPER_JAR)) {
    throw new ServiceStartError('zookeeper', `${ZOOKEEPER_JAR} is missing; run \`bash ops/bootstrap.sh\` (apt-get install zookeeper)`, '');
  }
  await assertPortsFree('zookeeper', [[cfg.zookeeper.host, cfg.zookeeper.port, 'STAAS_ZOOKEEPER_PORT']]);
  mkdirSync(join(files.dir, 'data'), { recursive: true });
  writeFileSync(files.configFile, zooCfg(cfg, files.dir));
  const logOffset = existsSync(files.logFile) ? statSync(files.logFile).size : 0;
  const java = cfg.kafka.javaHome === undefined ? 'java' : join(cfg.kafka.javaHome, 'bin', 'java');
  const classpath = [ZOOKEEPER_JAR, ...(existsSync(SLF4J_SIMPLE_JAR) ? [SLF4J_SIMPLE_JAR] : [])].join(':');
  const pid = startDetached(
    files,
    java,
    [
      `-Xmx${cfg.zookeeper.heap}`,
      `-Xms64m`,
      '-XX:+UseSerialGC',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-cp',
      classpath,
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      files.configFile,
    ],
    { cwd: files.dir },
  );
  await waitReady(files, pid, () => zookeeperHealthy(cfg), cfg.startTimeoutMs, logOffset);
  return 'started';
}
