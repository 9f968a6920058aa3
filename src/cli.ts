/**
 * The command line, nginx's: `-c FILE`, `-p PREFIX`, `-t`, `-T`, `-s SIGNAL`, `-v`. The only
 * importer of commander.
 */
import { Command, Option } from 'commander';
import cluster from 'node:cluster';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { checkConfig } from './config/check';
import { convertFile } from './config/convert';
import { ConfigError, oneLine } from './errors';
import { ConfigSources } from './config/sources';
import { version } from './http/version';
import { REGISTRY } from './modules/registry';
import { checkInChild } from './process/check-process';
import { sourcesFromMaster } from './process/config-handoff';
import { run } from './process/master';
import { boundRegexBacktracking } from './process/regex-backtracking';
import type { MasterConf } from './process/master-conf';
import { describePhases } from './server/describe';

/** `-s` names and the signals they send, as nginx. */
const SIGNALS: Record<string, NodeJS.Signals> = { stop: 'SIGTERM', quit: 'SIGQUIT', reload: 'SIGHUP', reopen: 'SIGUSR1' };

interface Options {
  conf: string;
  prefix?: string;
  test?: boolean;
  dump?: boolean;
  signal?: string;
}

const say = (line: string) => process.stderr.write(`gateway: ${line}\n`);

/** Runs the command line; resolves with the exit code (or never, while serving). */
export async function main(argv: readonly string[]): Promise<number> {
  boundRegexBacktracking();
  if (argv[2] === 'convert') return convert(argv.slice(3));
  const program = new Command()
    .name('gateway')
    .description('An nginx-like gateway: static files, proxy, WebSocket scripts.')
    .version(`gateway version: gateway/${version}`, '-v, --version', 'show the version and exit')
    .option('-c, --conf <file>', 'the configuration file', 'conf/site.yaml')
    .option('-p, --prefix <dir>', 'the prefix relative paths resolve against (default: the current directory)')
    .option('-t, --test', 'test the configuration and exit')
    .option('-T, --dump', 'test the configuration, print it and exit')
    .addOption(new Option('-s, --signal <signal>', 'send a signal to the master process').choices(Object.keys(SIGNALS)))
    .helpOption('-h, --help', 'show this help and exit')
    .showHelpAfterError();
  program.parse(argv as string[], { from: 'node' });
  const options = program.opts<Options>();
  const prefix = path.resolve(options.prefix ?? process.cwd());
  const file = path.resolve(prefix, options.conf);

  // `-s`: the file is read first, as nginx does, in a child process under the check's timeout.
  if (options.signal) {
    const reply = await checkInChild({ file, prefix }).reply;
    if (!reply.ok) {
      say(`[emerg] ${reply.reason}`);
      return 1;
    }
    return signal(reply.conf, options.signal);
  }
  // A worker builds exactly what its master checked; everyone else reads the disk.
  const sources = cluster.isWorker ? await sourcesFromMaster() : new ConfigSources();
  const checked = checkConfig(file, prefix, REGISTRY, sources);
  if (!checked.ok) {
    say(`[emerg] ${checked.reason}`);
    if (options.test || options.dump) say(`configuration file ${file} test failed`);
    return 1;
  }
  // nginx's warnings (obsolete directives...), said once: a worker reads what its master said.
  if (!cluster.isWorker) for (const warning of checked.conf.warnings) say(`[warn] ${warning}`);
  if (options.test || options.dump) {
    say(`the configuration file ${file} syntax is ok`);
    say(`configuration file ${file} test is successful`);
    if (options.dump) {
      const phases = describePhases(checked.conf);
      process.stdout.write(`${dump(checked.sources)}${phases ? `${phases}\n` : ''}`);
    }
    return 0;
  }
  try {
    await run(checked.conf, checked.sources);
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    // A worker that cannot start (a port in use) leaves at once, its log written first: the
    // master's channel would keep it alive, and the master waiting, until the start timeout.
    if (cluster.isWorker) setImmediate(() => process.exit(1));
    return 1;
  }
  return -1;
}

/**
 * `gateway convert FILE`: prints an nginx.conf as YAML, a YAML configuration as nginx.conf; a
 * file that does not read is the one line `-t` gives, exit 1.
 */
function convert(args: readonly string[]): number {
  if (args.length !== 1 || args[0].startsWith('-')) {
    say('usage: gateway convert FILE (nginx.conf -> YAML, YAML -> nginx.conf, on stdout)');
    return 1;
  }
  try {
    process.stdout.write(convertFile(args[0], REGISTRY).text);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) say(`[emerg] ${err.message}`);
    else say(`[emerg] ${oneLine(`unexpected error while converting the configuration (a bug in the gateway): ${(err as Error).message}`)}`);
    return 1;
  }
}

/** `-T`: every file the configuration was read from, as nginx prints them (then each location's phases). */
function dump(sources: ConfigSources): string {
  const files = Object.entries(sources.toSnapshot()).filter(([key]) => key.startsWith('file:'));
  return files.map(([key, text]) => `# configuration file ${key.slice('file:'.length)}:\n${text as string}${(text as string).endsWith('\n') ? '' : '\n'}\n`).join('');
}

/**
 * The command line of `pid` from /proc: null when there is no such process, undefined where
 * /proc cannot tell (not Linux), so the check is skipped there.
 */
function commandLineOf(pid: number): string | null | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ESRCH' ? (existsSync('/proc/self') ? null : undefined) : undefined;
  }
}

/** `-s`: signals the master whose pid the configuration's pid file holds. */
function signal(conf: MasterConf, name: string): number {
  if (!conf.pid) {
    say('[error] "pid" is off in the configuration: there is no master to signal');
    return 1;
  }
  let pid: number;
  try {
    pid = Number(readFileSync(conf.pid, 'utf8').trim());
  } catch (err) {
    say(`[error] open() "${conf.pid}" failed (${(err as NodeJS.ErrnoException).code})`);
    return 1;
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    say(`[error] invalid PID number in "${conf.pid}"`);
    return 1;
  }
  const command = commandLineOf(pid);
  if (command === null) {
    say(`[error] no process ${pid} (from "${conf.pid}"): the gateway is not running, or the pid file is stale`);
    return 1;
  }
  if (command !== undefined && !/(^|\/)gateway(\0|$)|\/bin\/gateway|\/dist\/cli/.test(command)) {
    say(`[error] process ${pid} (from "${conf.pid}") is not a gateway master: "${command.split('\0').join(' ').trim()}"`);
    return 1;
  }
  try {
    process.kill(pid, SIGNALS[name]);
  } catch (err) {
    say(`[error] kill(${pid}, ${SIGNALS[name]}) failed (${(err as NodeJS.ErrnoException).code})`);
    return 1;
  }
  return 0;
}
