/** Access logs as nginx writes them: combined, log_format with escape=json, several logs, off; error_log levels. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const SITE = `
error_log: logs/error.log warn
pid: off
http:
  log_format:
    json: 'escape=json {"addr":"$remote_addr","request":"$request","status":$status,"agent":"$http_user_agent","referer":"$http_referer"}'
    short: '$request_method $uri $status $body_bytes_sent'
  access_log: [logs/access.log, "logs/access.json json"]
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /quiet
          access_log: "off"
          return: 204
        - location: /short
          access_log: logs/short.log short
          return: "200 'twelve bytes'"
        - { location: /, return: "200 ok" }
`;

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
}

test('combined and escape=json side by side, a location of its own, off', async () => {
  const gw = await startGateway(SITE.replace('error_log: logs/error.log warn', 'error_log: stderr notice'));
  const log = (name: string) => (existsSync(path.join(gw.prefix, 'logs', name)) ? readFileSync(path.join(gw.prefix, 'logs', name), 'utf8') : '');
  try {
    const agent = 'Agent "quoted" \\ back\ttab';
    await request(gw.ports[0], '/x?a=1', { headers: { 'User-Agent': agent } });
    await request(gw.ports[0], '/quiet');
    await request(gw.ports[0], '/short');
    await until(() => log('access.json').includes('/x?a=1') && log('short.log') !== '');
    const combined = log('access.log').trim().split('\n');
    expect(combined).toHaveLength(1);
    expect(combined[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/x\?a=1 HTTP\/1\.1" 200 2 "-" "Agent \\x22quoted\\x22 \\x5C back\\x09tab"$/);
    const json = log('access.json').trim().split('\n');
    expect(json).toHaveLength(1);
    expect(JSON.parse(json[0])).toEqual({ addr: '127.0.0.1', request: 'GET /x?a=1 HTTP/1.1', status: 200, agent, referer: '' });
    expect(log('short.log')).toBe('GET /short 200 12\n');
    expect(log('access.log') + log('access.json')).not.toContain('/quiet');
    expect(gw.stderr()).not.toMatch(/\[(info|debug)\]/);
  } finally {
    await gw.stop();
  }
});
