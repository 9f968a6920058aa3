/**
 * The chat example (conf/examples/chat.yaml, handlers/chat.ts) run as a user runs it, with its
 * two workers, driven by WebSocket clients: rooms shared across workers, replay for newcomers,
 * the publisher and the EventSource watchers beside the script.
 */
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { GatewayProcess } from './helpers/gateway-process';
import { startChatExample, until, workerOf } from './helpers/chat-example';
import { request } from './helpers/http-client';
import { sseSubscribe } from './helpers/push-clients';

interface ChatMessage {
  readonly nick?: string;
  readonly text: string;
  readonly time?: number;
  readonly system?: boolean;
}

/** A chat client: what it received, parsed, and waits bounded in time. */
class Client {
  readonly received: ChatMessage[] = [];
  readonly closed: Promise<[number, string]>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.received.push(JSON.parse(data.toString())));
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
  }

  static open(port: number, path: string): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('error', reject);
    });
  }

  /** Joins and waits for its own join message (it is then subscribed). */
  static async join(port: number, room: string, nick: string): Promise<Client> {
    const client = await Client.open(port, `/chat?room=${room}&nick=${encodeURIComponent(nick)}`);
    await client.waitFor((m) => m.system === true && m.text === `${nick} joined`);
    return client;
  }

  get localPort(): number {
    return (this.ws as unknown as { _socket: { address(): AddressInfo } })._socket.address().port;
  }

  /** The "nick: text" of the chat messages received (system messages left out). */
  get lines(): string[] {
    return this.received.filter((m) => !m.system).map((m) => `${m.nick}: ${m.text}`);
  }

  async waitFor(match: (m: ChatMessage) => boolean): Promise<ChatMessage> {
    await until(() => this.received.some(match), `a message in ${JSON.stringify(this.received)}`);
    return this.received.find(match)!;
  }

  async waitForLine(line: string): Promise<void> {
    await until(() => this.lines.includes(line), `"${line}" in ${JSON.stringify(this.lines)}`);
  }

  close(): void {
    this.ws.close();
  }
}

describe('chat: a WebSocket script that pushes', () => {
  let gw: GatewayProcess;
  let port: number;
  const clients: Client[] = [];
  const join = async (room: string, nick: string) => {
    const client = await Client.join(port, room, nick);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    gw = await startChatExample();
    port = gw.ports[0];
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.ws.terminate();
  });
  afterAll(() => gw.stop());

  test('two clients on different workers talk; the chat JSON carries nick, text and time', async () => {
    const ann = await join('workers', 'ann');
    const annWorker = workerOf(gw, ann.localPort);
    expect(annWorker).not.toBeNull();
    // Connections go to whichever worker accepts first: join again until one lands on the other.
    let bob = await join('workers', 'bob');
    for (let i = 0; i < 50 && workerOf(gw, bob.localPort) === annWorker; i++) {
      bob.ws.terminate();
      bob = await join('workers', 'bob');
    }
    expect(workerOf(gw, bob.localPort)).not.toBe(annWorker);
    ann.ws.send('hello');
    const hello = await bob.waitFor((m) => m.text === 'hello');
    expect(hello).toEqual({ nick: 'ann', text: 'hello', time: expect.any(Number) });
    bob.ws.send('hi ann');
    await ann.waitForLine('bob: hi ann');
    await bob.waitForLine('bob: hi ann');
    expect(ann.lines).toEqual(['ann: hello', 'bob: hi ann']);
    expect(bob.lines).toEqual(['ann: hello', 'bob: hi ann']);
  });

  test('a newcomer is shown the earlier messages in order, then the live ones', async () => {
    const ann = await join('replay', 'ann');
    const bob = await join('replay', 'bob');
    for (const text of ['one', 'two', 'three']) ann.ws.send(text);
    await bob.waitForLine('ann: three'); // bob may be on the other worker: keep the order clear
    bob.ws.send('four');
    await ann.waitForLine('bob: four');
    const cat = await join('replay', 'cat');
    expect(cat.lines).toEqual(['ann: one', 'ann: two', 'ann: three', 'bob: four']);
    expect(cat.received.filter((m) => m.system).map((m) => m.text)).toEqual(['ann joined', 'bob joined', 'cat joined']);
    bob.ws.send('five');
    await cat.waitForLine('bob: five');
    expect(cat.lines).toEqual(['ann: one', 'ann: two', 'ann: three', 'bob: four', 'bob: five']);
  });

  test('the room is /chat/<room> or ?room=; rooms are apart; leaving is announced', async () => {
    const ann = await join('a', 'ann');
    const other = await Client.open(port, '/chat/b?nick=zed');
    clients.push(other);
    await other.waitFor((m) => m.text === 'zed joined');
    const bob = await Client.open(port, '/chat/a?nick=bob');
    clients.push(bob);
    await ann.waitFor((m) => m.text === 'bob joined');
    bob.close();
    expect((await bob.closed)[0]).toBe(1005);
    await ann.waitFor((m) => m.system === true && m.text === 'bob left');
    other.ws.send('only in b');
    ann.ws.send('only in a');
    await other.waitForLine('zed: only in b');
    await ann.waitForLine('ann: only in a');
    expect(ann.lines).toEqual(['ann: only in a']);
    expect(other.lines).toEqual(['zed: only in b']);
  });

  test('input is checked: room names, nicknames, empty and long texts; pings are answered', async () => {
    const bad = await Client.open(port, '/chat?room=no%20spaces&nick=x');
    expect(await bad.closed).toEqual([1008, 'invalid room name']);
    const guest = await Client.open(port, '/chat?room=checks'); // no nick
    clients.push(guest);
    expect(await guest.waitFor(() => true)).toEqual({ system: true, text: 'guest joined', time: expect.any(Number) });
    const ann = await Client.open(port, `/chat?room=checks&nick=${encodeURIComponent(' ann\u0007 the very long nickname indeed ')}`);
    clients.push(ann);
    await guest.waitFor((m) => m.text === 'ann the very long nickna joined');
    ann.ws.send('   ');
    ann.ws.send('x'.repeat(600));
    await guest.waitFor((m) => m.text.startsWith('x'));
    expect(guest.lines).toEqual([`ann the very long nickna: ${'x'.repeat(500)}`]);
    const pong = new Promise<string>((resolve) => ann.ws.once('pong', (data) => resolve(data.toString())));
    ann.ws.ping('are you there');
    expect(await pong).toBe('are you there');
  });

  test('curl-style POST to /rooms/<name> reaches the room; GET tells its state; watchers get an event stream', async () => {
    const ann = await join('ops', 'ann');
    const bob = await join('ops', 'bob');
    const watcher = await sseSubscribe(port, '/rooms/ops/events');
    try {
      // The event stream's head comes before its subscription is known to every worker
      // (test/push-subscribe-race.test.ts): wait until the room counts it.
      const counted = async () => JSON.parse((await request(port, '/rooms/ops')).body.toString()).subscribers === 3;
      for (let i = 0; i < 100 && !(await counted()); i++) await new Promise((r) => setTimeout(r, 20));
      const body = '{"nick":"ops","text":"maintenance at noon"}';
      const posted = await request(port, '/rooms/ops', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      expect(posted.status).toBe(201);
      expect(JSON.parse(posted.body.toString())).toMatchObject({ channel: 'chat:ops', subscribers: 3 });
      await ann.waitForLine('ops: maintenance at noon');
      await bob.waitForLine('ops: maintenance at noon');
      ann.ws.send('ok');
      await watcher.waitFor(2);
      expect(watcher.received.map((e) => JSON.parse(e.data).text)).toEqual(['maintenance at noon', 'ok']);
      const state = await request(port, '/rooms/ops');
      expect(JSON.parse(state.body.toString())).toMatchObject({ channel: 'chat:ops', subscribers: 3 });
      expect((await request(port, '/rooms/no%20such')).status).toBe(400);
    } finally {
      watcher.close();
    }
  });

  test('DELETE on the publisher closes the room\'s clients', async () => {
    const ann = await join('doomed', 'ann');
    expect((await request(port, '/rooms/doomed', { method: 'DELETE' })).status).toBe(200);
    expect(await ann.closed).toEqual([1000, 'room closed']);
  });

  test('the page is served at /', async () => {
    const page = await request(port, '/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('<title>Chat</title>');
  });
});
