/**
 * nginx's buffered proxying ahead of a slow client, in a gateway process: past the memory
 * buffers (`proxy_buffer_size` + `proxy_buffers`) the upstream's response goes to a temporary
 * file under `proxy_temp_path`, so the upstream is read to its end and let go (its connection
 * closed) while the client has taken only a little; the client then gets every byte, in order.
 * With `proxy_max_temp_file_size 0` the upstream waits for the client instead (backpressure).
 * The temporary file leaves no descriptor and no file behind.
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, until } from './helpers/proxy-peers';

/** 16 MiB: more than the loopback sockets on both sides hold, so only a file lets the upstream finish. */
const SIZE = 16 * 1024 * 1024;
const BODY = Buffer.alloc(SIZE, 0);
for (let i = 0; i < SIZE; i++) BODY[i] = (i * 7 + (i >> 12)) & 0xff;
const DIGEST = createHash('sha256').update(BODY).digest('hex');

describe('proxy_buffering on with a slow client', () => {
  /** When each backend connection closed (by path), and how many are open. */
  const closedAt = new Map<string, number>();
  const backend = http.createServer((req, res) => {
    req.resume();
    res.socket!.once('close', () => closedAt.set(req.url!, Date.now()));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': SIZE });
    res.end(BODY);
  });
  let gateway: GatewayProcess;
  let port: number;
  const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;

  beforeAll(async () => {
    await listen(backend);
    const b = `http://127.0.0.1:${portOf(backend)}`;
    gateway = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  proxy_temp_path: tmp/proxy\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        `        - location: /spool/\n          proxy_pass: ${b}\n` +
        `        - location: /small/\n          proxy_pass: ${b}\n          proxy_buffer_size: 1k\n          proxy_buffers: 2 1k\n` +
        `        - location: /nofile/\n          proxy_pass: ${b}\n          proxy_max_temp_file_size: 0\n` +
        `        - location: /badtemp/\n          proxy_pass: ${b}\n          proxy_temp_path: /dev/null/proxy\n`,
    );
    port = gateway.ports[0];
  });

  afterAll(async () => {
    await gateway?.stop();
    backend.closeAllConnections();
    await closeServer(backend);
  });

  /** A client that reads the head and a little, then stops reading until `resume`. */
  function slowClient(target: string) {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let received = 0;
    let resumed = false;
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      received += c.length;
      if (received > 64 * 1024 && !resumed) socket.pause();
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const ended = new Promise<Buffer>((resolve) => socket.once('end', () => resolve(Buffer.concat(chunks))));
    const resume = () => {
      resumed = true;
      socket.resume();
    };
    return { received: () => received, resume, ended };
  }

  const bodyOf = (reply: Buffer) => reply.subarray(reply.indexOf('\r\n\r\n') + 4);

  test.each(['/spool/a', '/small/b'])('%s: the upstream is read to its end and let go before the client has taken the response; the client gets it whole', async (target) => {
    const before = fds();
    const client = slowClient(target);
    expect(await until(() => closedAt.has(target), 500)).toBe(true);
    expect(client.received()).toBeLessThan(SIZE / 2);
    // The file under proxy_temp_path is unlinked at once: nothing is left in the directory.
    expect(readdirSync(path.join(gateway.prefix, 'tmp/proxy'))).toEqual([]);
    client.resume();
    const body = bodyOf(await client.ended);
    expect(body.length).toBe(SIZE);
    expect(createHash('sha256').update(body).digest('hex')).toBe(DIGEST);
    expect(await until(() => fds() <= before, 150)).toBe(true);
  });

  test('a temporary file that cannot be made: one crit line, the upstream waits for the client, the response whole', async () => {
    const client = slowClient('/badtemp/d');
    expect(await until(() => /\[crit\] .*mkdir\(\) "\/dev\/null\/proxy" failed \(ENOTDIR\) while reading upstream/.test(gateway.stderr()))).toBe(true);
    client.resume();
    const body = bodyOf(await client.ended);
    expect(createHash('sha256').update(body).digest('hex')).toBe(DIGEST);
  });

  test('proxy_max_temp_file_size 0: the upstream waits for the client', async () => {
    const client = slowClient('/nofile/c');
    expect(await until(() => client.received() > 64 * 1024)).toBe(true);
    // A second on a loopback machine is far more than a 16 MiB read takes when nothing holds it back.
    expect(await until(() => closedAt.has('/nofile/c'), 50)).toBe(false);
    client.resume();
    expect(bodyOf(await client.ended).length).toBe(SIZE);
    expect(await until(() => closedAt.has('/nofile/c'))).toBe(true);
  });
});
