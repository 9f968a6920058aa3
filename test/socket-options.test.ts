/**
 * so_keepalive on real accepted sockets: a server on 127.0.0.1:0 applies the setting to each
 * accepted socket, and getsockopt reads it back from that socket.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { parseSoKeepalive, type SoKeepalive } from '../src/config/values';
import {
  applySoKeepalive,
  hasFourArgSetKeepAlive,
  keepaliveStrategy,
  readKeepalive,
  setKeepaliveStrategyForTests,
} from '../src/server/socket-options';

const onLinux = process.platform === 'linux';
const describeLinux = onLinux ? describe : describe.skip;

/** The system's defaults, which an empty so_keepalive field must leave in place. */
function systemValue(name: 'time' | 'intvl' | 'probes'): number {
  return Number(fs.readFileSync(`/proc/sys/net/ipv4/tcp_keepalive_${name}`, 'utf8'));
}

const cleanup: Array<() => void> = [];

afterEach(() => {
  for (const undo of cleanup.splice(0).reverse()) undo();
  setKeepaliveStrategyForTests(null);
});

/** A server on port 0 (or a unix path) that applies `conf` to every accepted socket. */
async function serve(
  conf: SoKeepalive,
  warn: (msg: string) => void,
  options: net.ServerOpts = {},
  unixPath?: string,
): Promise<net.Server> {
  const server = net.createServer(options);
  server.on('connection', (socket) => {
    socket.on('error', () => {});
    cleanup.push(() => socket.destroy());
    applySoKeepalive(socket, conf, warn);
  });
  if (unixPath) server.listen(unixPath);
  else server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => server.close());
  return server;
}

/** Connects a client and returns the server's side of the connection, once conf is applied. */
async function accept(server: net.Server): Promise<net.Socket> {
  const accepted = once(server, 'connection'); // registered after serve's listener: runs after it
  const address = server.address();
  const client = typeof address === 'string' ? net.connect(address) : net.connect(address!.port, '127.0.0.1');
  client.on('error', () => {});
  cleanup.push(() => client.destroy());
  const [socket] = (await accepted) as [net.Socket];
  return socket;
}

async function acceptWith(value: string, options: net.ServerOpts = {}) {
  const warn = jest.fn();
  const socket = await accept(await serve(parseSoKeepalive(value), warn, options));
  return { state: readKeepalive(socket), warn, socket };
}

describe('hasFourArgSetKeepAlive', () => {
  it.each([
    ['20.20.2', false],
    ['v22.99.0', false],
    ['24.18.9', false],
    ['24.19.0', true],
    ['25.9.0', false],
    ['26.3.1', false],
    ['26.4.0', true],
    ['27.0.0', true],
  ])('%s -> %s', (version, expected) => {
    expect(hasFourArgSetKeepAlive(version)).toBe(expected);
  });
});

describeLinux('so_keepalive through setsockopt', () => {
  it('is the strategy chosen on Linux with Node 20', () => {
    if (!hasFourArgSetKeepAlive(process.versions.node)) expect(keepaliveStrategy).toBe('setsockopt');
  });

  it('2s:2s:8 sets all three on the accepted socket', async () => {
    const { state, warn } = await acceptWith('2s:2s:8');
    expect(state).toEqual({ enabled: true, idle: 2, interval: 2, count: 8 });
    expect(warn).not.toHaveBeenCalled();
  });

  it('on only enables keepalive, keeping the system values', async () => {
    const { state } = await acceptWith('on');
    expect(state).toEqual({
      enabled: true,
      idle: systemValue('time'),
      interval: systemValue('intvl'),
      count: systemValue('probes'),
    });
  });

  it('off disables keepalive, even when the server turned it on', async () => {
    const { state } = await acceptWith('off', { keepAlive: true });
    expect(state.enabled).toBe(false);
  });

  it(':5s: changes only the interval', async () => {
    const { state } = await acceptWith(':5s:');
    expect(state).toEqual({ enabled: true, idle: systemValue('time'), interval: 5, count: systemValue('probes') });
  });

  it('1m::3 changes idle and count', async () => {
    const { state } = await acceptWith('1m::3');
    expect(state).toEqual({ enabled: true, idle: 60, interval: systemValue('intvl'), count: 3 });
  });

  it('reports a value the kernel refuses once, sets the rest, and keeps serving', async () => {
    const warn = jest.fn();
    const server = await serve(parseSoKeepalive('10h::4'), warn); // TCP_KEEPIDLE is at most 32767
    const first = await accept(server);
    const second = await accept(server);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/setsockopt\(TCP_KEEPIDLE, 36000\) failed: EINVAL/);
    for (const socket of [first, second]) {
      expect(readKeepalive(socket)).toMatchObject({ enabled: true, idle: systemValue('time'), count: 4 });
    }
  });

  it('does nothing and never throws on a closed socket', async () => {
    const { socket } = await acceptWith('on');
    socket.destroy();
    const warn = jest.fn();
    expect(() => applySoKeepalive(socket, parseSoKeepalive('2s:2s:8'), warn)).not.toThrow();
    expect(warn).not.toHaveBeenCalled();
  });

  it('ignores a unix socket, warning once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-keepalive-'));
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const warn = jest.fn();
    const server = await serve(parseSoKeepalive('2s:2s:8'), warn, {}, path.join(dir, 'sock'));
    const socket = await accept(server);
    await accept(server);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/not a TCP socket/);
    expect(() => readKeepalive(socket)).toThrow(/not a TCP socket/);
  });
});

describeLinux('so_keepalive through the four-argument setKeepAlive (forced)', () => {
  /** Spies on setKeepAlive of each accepted socket before the setting is applied. */
  async function acceptSpied(value: string) {
    setKeepaliveStrategyForTests('setKeepAlive4');
    const warn = jest.fn();
    const server = net.createServer();
    const spies: jest.SpyInstance[] = [];
    server.on('connection', (socket) => {
      socket.on('error', () => {});
      cleanup.push(() => socket.destroy());
      spies.push(jest.spyOn(socket, 'setKeepAlive'));
      applySoKeepalive(socket, parseSoKeepalive(value), warn);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const socket = await accept(server);
    return { socket, setKeepAlive: spies[0], warn };
  }

  it('passes a complete setting to setKeepAlive in milliseconds', async () => {
    const { setKeepAlive, warn } = await acceptSpied('2s:2s:8');
    expect(setKeepAlive).toHaveBeenCalledWith(true, 2000, 2000, 8);
    expect(warn).not.toHaveBeenCalled();
  });

  it('leaves a setting with an empty field to setsockopt, keeping the system values', async () => {
    const { socket, setKeepAlive } = await acceptSpied(':5s:');
    expect(setKeepAlive).not.toHaveBeenCalled();
    expect(readKeepalive(socket)).toEqual({
      enabled: true,
      idle: systemValue('time'),
      interval: 5,
      count: systemValue('probes'),
    });
  });
});

describeLinux('so_keepalive fallback to setKeepAlive(true, idle) (forced)', () => {
  it('sets enable and idle, with Node 20 forcing 1s and 10, and warns once', async () => {
    setKeepaliveStrategyForTests('setKeepAlive2');
    const warn = jest.fn();
    const server = await serve(parseSoKeepalive('2s:2s:8'), warn);
    const first = await accept(server);
    const second = await accept(server);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/fell back to socket\.setKeepAlive/);
    for (const socket of [first, second]) {
      const expected = hasFourArgSetKeepAlive(process.versions.node)
        ? { enabled: true, idle: 2 }
        : { enabled: true, idle: 2, interval: 1, count: 10 };
      expect(readKeepalive(socket)).toMatchObject(expected);
    }
  });

  it('is exact, and silent, for on and off', async () => {
    setKeepaliveStrategyForTests('setKeepAlive2');
    const on = await acceptWith('on');
    const off = await acceptWith('off', { keepAlive: true });
    expect(on.state).toEqual({
      enabled: true,
      idle: systemValue('time'),
      interval: systemValue('intvl'),
      count: systemValue('probes'),
    });
    expect(off.state.enabled).toBe(false);
    expect(on.warn).not.toHaveBeenCalled();
    expect(off.warn).not.toHaveBeenCalled();
  });
});
