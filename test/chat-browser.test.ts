/**
 * The chat example in a real headless Chromium (Debian's, driven by playwright-core) against
 * `gateway -c conf/examples/chat.yaml` run as a process with its two workers: pages in separate
 * browser contexts, on different workers, talk through public/chat.html; a late page is shown
 * the earlier messages; an HTTP POST to the publisher shows up on every page.
 */
import { launchChromium, type Browser, type BrowserContext, type Page } from './helpers/headless-chromium';
import { clientPorts, startChatExample, workerOf } from './helpers/chat-example';
import type { GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

/** Every wait in a page is bounded by this. */
const WAIT = { timeout: 10000 };

/** One person in the chat: a page in its own browser context, and the worker its WebSocket is on. */
interface Person {
  readonly context: BrowserContext;
  readonly page: Page;
  /** null when it could not be told (several new connections to different workers). */
  readonly worker: number | null;
}

/** The chat lines of a page, "nick: text", system lines left out. */
function lines(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#messages li:not(.system)')].map((li) => `${li.querySelector('.nick')?.textContent}: ${li.querySelector('.text')?.textContent}`),
  );
}

function waitForLine(page: Page, line: string): Promise<unknown> {
  return page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#messages li:not(.system)')].some((li) => `${li.querySelector('.nick')?.textContent}: ${li.querySelector('.text')?.textContent}` === wanted),
    line,
    WAIT,
  );
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

describe('chat.html in Chromium, two workers', () => {
  let gw: GatewayProcess;
  let browser: Browser;
  const people: Person[] = [];

  /** Opens the page, joins the lobby as `nick`, waits for its own join line. */
  async function join(nick: string): Promise<Person> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${gw.ports[0]}/chat.html`);
    await page.locator('#room').fill('lobby');
    await page.locator('#nick').fill(nick);
    const before = clientPorts(gw);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.waitForFunction((n) => [...document.querySelectorAll('#messages li.system')].some((li) => li.textContent!.endsWith(`${n} joined`)), nick, WAIT);
    const owners = new Set([...clientPorts(gw)].filter((p) => !before.has(p)).map((p) => workerOf(gw, p)));
    const person = { context, page, worker: owners.size === 1 ? [...owners][0] : null };
    people.push(person);
    return person;
  }

  beforeAll(async () => {
    gw = await startChatExample();
    browser = await launchChromium();
  }, 60000);
  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
  });

  test('two pages talk across workers, a late page is shown the history, a POST reaches every page', async () => {
    const ann = await join('ann');
    expect(ann.worker).not.toBeNull();
    // Whichever worker accepts a connection gets it: join again until bob is on the other one.
    let bob = await join('bob');
    for (let i = 0; i < 30 && (bob.worker === null || bob.worker === ann.worker); i++) {
      await bob.context.close();
      bob = await join('bob');
    }
    expect(bob.worker).not.toBeNull();
    expect(bob.worker).not.toBe(ann.worker);
    expect(await ann.page.locator('#status').textContent()).toBe('in #lobby');

    await say(ann.page, 'hello');
    await waitForLine(bob.page, 'ann: hello');
    await say(bob.page, 'hi ann <b>not bold</b>');
    await waitForLine(ann.page, 'bob: hi ann <b>not bold</b>');
    // Text is text: nothing the others typed became markup.
    expect(await ann.page.locator('#messages b').count()).toBe(0);

    const cat = await join('cat');
    expect(await lines(cat.page)).toEqual(['ann: hello', 'bob: hi ann <b>not bold</b>']);

    const posted = await request(gw.ports[0], '/rooms/lobby', { method: 'POST', body: '{"nick":"ops","text":"deploy done"}' });
    expect(posted.status).toBe(201);
    for (const person of [ann, bob, cat]) await waitForLine(person.page, 'ops: deploy done');
    for (const person of [ann, bob, cat]) expect(await lines(person.page)).toEqual(['ann: hello', 'bob: hi ann <b>not bold</b>', 'ops: deploy done']);

    // Bobs that landed on ann's worker have left already: one more "bob left" line.
    const leftLines = () => [...document.querySelectorAll('#messages li.system')].filter((li) => li.textContent!.endsWith('bob left')).length;
    const left = await ann.page.evaluate(leftLines);
    await bob.page.getByRole('button', { name: 'Disconnect', exact: true }).click();
    await bob.page.waitForFunction(() => document.getElementById('status')!.textContent === 'disconnected', undefined, WAIT);
    await ann.page.waitForFunction(`(${leftLines})() === ${left + 1}`, undefined, WAIT);
    expect(await bob.page.locator('#text').isDisabled()).toBe(true);
  });
});
