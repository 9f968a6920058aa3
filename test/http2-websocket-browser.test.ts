/**
 * The seed's page in a real headless Chromium over `https://` with `listen ... ssl http2`: with
 * `http2_websocket on` the page's WebSocket runs on an HTTP/2 stream of the page's own connection
 * (RFC 8441; the access log says `"GET /s HTTP/2.0" 200`), and without it Chromium loads the
 * page over h2 and opens its WebSocket beside it over HTTP/1.1 (`"GET /s HTTP/1.1" 101`). The
 * certificate is a throwaway self-signed one (`--ignore-certificate-errors`).
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { launchChromium, type Browser } from './helpers/headless-chromium';
import { expectLogged, makePrefix, ROOT, seedConfigForTest, startGateway, type GatewayProcess } from './helpers/gateway-process';

const SEED_LISTEN = 'listen: "127.0.0.1:0 so_keepalive=2s:2s:8"';

/** The seed's configuration on `https://` with HTTP/2 (and `http2_websocket on` when `websocket`), its access log on stderr. */
function seedOverH2(certDir: string, websocket: boolean): string {
  const yaml = seedConfigForTest();
  if (!yaml.includes(SEED_LISTEN) || !yaml.includes('\nhttp:\n')) throw new Error('conf/site.yaml changed: update this test');
  const tls = [
    `listen: "127.0.0.1:0 ssl http2"`,
    `      ssl_certificate: ${certDir}/cert.pem`,
    `      ssl_certificate_key: ${certDir}/key.pem`,
    ...(websocket ? ['      http2_websocket: on'] : []),
  ].join('\n');
  const log = `\nhttp:\n  log_format: { proto: '"$request" $status $server_protocol' }\n  access_log: stderr proto\n`;
  return yaml.replace(SEED_LISTEN, tls).replace('\nhttp:\n', log);
}

describe('websocket.html over https:// and HTTP/2 in Chromium', () => {
  let browser: Browser;
  let certDir: string;

  beforeAll(async () => {
    certDir = makePrefix();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
    browser = await launchChromium(['--ignore-certificate-errors']);
  }, 60000);

  afterAll(async () => {
    await browser?.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  /** Loads the page, connects, sends two messages, sees their echoes, disconnects. */
  async function echoOnPage(port: number): Promise<void> {
    const page = await browser.newPage();
    const response = await page.goto(`https://127.0.0.1:${port}/websocket.html`);
    expect(response?.status()).toBe(200);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('log')!.textContent!.includes('connected'));
    for (const text of ['hello h2', '你好, websocket']) {
      await page.locator('#text').fill(text);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.waitForFunction((t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === `recv: ${t}`), text);
    }
    await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('log')!.textContent!.includes('disconnected'));
    expect(await page.locator('#log li').allTextContents()).toEqual(['connected', 'send: hello h2', 'recv: hello h2', 'send: 你好, websocket', 'recv: 你好, websocket', 'disconnected']);
    await page.close();
  }

  test('with http2_websocket on, the page and its WebSocket both run over HTTP/2', async () => {
    const gw: GatewayProcess = await startGateway(seedOverH2(certDir, true), { prefix: ROOT });
    try {
      await echoOnPage(gw.ports[0]);
      await expectLogged(gw, '"GET /websocket.html HTTP/2.0" 200 HTTP/2.0');
      await expectLogged(gw, '"GET /s HTTP/2.0" 200 HTTP/2.0');
      expect(gw.stderr()).not.toContain('"GET /s HTTP/1.1"');
    } finally {
      await gw.stop();
    }
  }, 60000);

  test('without it, the page loads over HTTP/2 and its WebSocket opens beside it over HTTP/1.1', async () => {
    const gw: GatewayProcess = await startGateway(seedOverH2(certDir, false), { prefix: ROOT });
    try {
      await echoOnPage(gw.ports[0]);
      await expectLogged(gw, '"GET /websocket.html HTTP/2.0" 200 HTTP/2.0');
      await expectLogged(gw, '"GET /s HTTP/1.1" 101 HTTP/1.1');
      expect(gw.stderr()).not.toContain('"GET /s HTTP/2.0"');
    } finally {
      await gw.stop();
    }
  }, 60000);
});
