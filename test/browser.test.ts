/**
 * The seed's page in a real headless Chromium (Debian's, driven by playwright-core) against
 * `gateway -c conf/site.yaml` run as a process: Connect, type, Send, see `recv: ...`, Disconnect.
 */
import { launchChromium, type Browser } from './helpers/headless-chromium';
import { ROOT, seedConfigForTest, startGateway, type GatewayProcess } from './helpers/gateway-process';

describe('websocket.html in Chromium', () => {
  let gw: GatewayProcess;
  let browser: Browser;
  beforeAll(async () => {
    gw = await startGateway(seedConfigForTest(), { prefix: ROOT });
    browser = await launchChromium();
  }, 60000);
  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  test('connect, send, receive the echo, disconnect', async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${gw.ports[0]}/websocket.html`);
    const log = page.locator('#log li');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('log')!.textContent!.includes('connected'));
    for (const text of ['hello gateway', '你好, websocket']) {
      await page.locator('#text').fill(text);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.waitForFunction((t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === `recv: ${t}`), text);
    }
    await page.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await page.waitForFunction(() => document.getElementById('log')!.textContent!.includes('disconnected'));
    expect(await log.allTextContents()).toEqual([
      'connected',
      'send: hello gateway',
      'recv: hello gateway',
      'send: 你好, websocket',
      'recv: 你好, websocket',
      'disconnected',
    ]);
    await page.close();
  });
});
