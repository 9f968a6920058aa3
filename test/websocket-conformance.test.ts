/**
 * RFC 6455 conformance of the `websocket-script` handler with the echo script, driven by a raw
 * `net` client writing hand-made frames: the seed's 2014 handshake, fragmentation, every
 * protocol error the server must answer with a close code, failed handshakes; and afterwards
 * the server still serves and holds no connection.
 */
import { closePayload, encodeFrame, Opcode, RawClient, seedRequest, type ServerFrame } from './helpers/ws-raw-client';
import { startWsServer, waitFor, type WsHarness } from './helpers/ws-harness';

let h: WsHarness;
beforeAll(async () => {
  h = await startWsServer();
});
afterAll(() => h.close());

/** Opens a connection with the seed's handshake and checks the 101. */
async function openSeed(): Promise<RawClient> {
  const client = RawClient.open(h.port, seedRequest());
  expect((await client.responseHead()).split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
  return client;
}

function closeCode(frame: ServerFrame): number {
  expect(frame.opcode).toBe(Opcode.CLOSE);
  return frame.payload.readUInt16BE(0);
}

/** Sends `frames` on a fresh connection; returns the code of the server's close frame. */
async function closeCodeAfter(...frames: Buffer[]): Promise<number> {
  const client = await openSeed();
  client.send(...frames);
  const code = closeCode(await client.nextFrame());
  await client.ended; // the server ends the TCP connection after its close frame
  await client.finish();
  return code;
}

test("the seed's handshake: Upgrade: Websocket (capital W) and the seed's Sec-WebSocket-Accept", async () => {
  const client = await openSeed();
  const head = (await client.responseHead()).split('\r\n');
  expect(head).toContain('Sec-WebSocket-Accept: OedKikXLqz4gzGARLjmhZzRcNjk=');
  expect(head).toContain('Upgrade: websocket');
  expect(head.some((line) => /^Server: gateway\//.test(line))).toBe(true);
  client.send(encodeFrame(Opcode.TEXT, 'hello'));
  expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('hello') });
  client.send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
  expect(closeCode(await client.nextFrame())).toBe(1000);
  await client.ended;
  await client.finish();
});

test('a text message in 3 fragments with a ping between them: pong first, then one message', async () => {
  const client = await openSeed();
  client.send(
    encodeFrame(Opcode.TEXT, 'Hel', { fin: false }),
    encodeFrame(Opcode.PING, 'between'),
    encodeFrame(Opcode.CONTINUATION, 'lo, ', { fin: false }),
    encodeFrame(Opcode.CONTINUATION, 'world'),
  );
  expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.PONG, payload: Buffer.from('between') });
  expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('Hello, world') });
  client.send(encodeFrame(Opcode.CLOSE));
  expect((await client.nextFrame()).payload.length).toBe(0); // no code in, no code echoed
  await client.finish();
});

test('a binary message of max_payload_len (65535) bytes is echoed whole', async () => {
  const client = await openSeed();
  client.send(encodeFrame(Opcode.BINARY, Buffer.alloc(65535, 7)));
  const frame = await client.nextFrame();
  expect([frame.opcode, frame.payload.length, frame.payload[65534]]).toEqual([Opcode.BINARY, 65535, 7]);
  await client.finish();
});

test('a message over max_payload_len (65535 by default; 64-bit length) closes with 1009', async () => {
  expect(await closeCodeAfter(encodeFrame(Opcode.BINARY, Buffer.alloc(70000)))).toBe(1009);
});

test('invalid UTF-8 in a text message closes with 1007', async () => {
  expect(await closeCodeAfter(encodeFrame(Opcode.TEXT, Buffer.from([0x68, 0xff, 0xfe])))).toBe(1007);
});

test.each<[string, Buffer]>([
  ['an unmasked frame', encodeFrame(Opcode.TEXT, 'hi', { mask: false })],
  ['reserved data opcode 3', encodeFrame(3, 'hi')],
  ['reserved control opcode 0xB', encodeFrame(0xb, 'hi')],
  ['RSV1 without an extension', encodeFrame(Opcode.TEXT, 'hi', { rsv: 4 })],
  ['RSV2', encodeFrame(Opcode.TEXT, 'hi', { rsv: 2 })],
  ['a fragmented ping', encodeFrame(Opcode.PING, 'hi', { fin: false })],
  ['a ping of 126 bytes', encodeFrame(Opcode.PING, Buffer.alloc(126))],
  ['a continuation with nothing to continue', encodeFrame(Opcode.CONTINUATION, 'hi')],
  ['a new message inside a fragmented one', Buffer.concat([encodeFrame(Opcode.TEXT, 'a', { fin: false }), encodeFrame(Opcode.TEXT, 'b')])],
  ['a close frame of 1 byte', encodeFrame(Opcode.CLOSE, Buffer.from([3]))],
])('%s closes with 1002', async (_name, frame) => {
  expect(await closeCodeAfter(frame)).toBe(1002);
});

test.each([999, 1004, 1005, 1006, 1015, 2999, 5000])('close code %i on the wire closes with 1002', async (code) => {
  expect(await closeCodeAfter(encodeFrame(Opcode.CLOSE, closePayload(code)))).toBe(1002);
});

test.each<[number, string]>([
  [1000, ''],
  [1001, 'going'],
  [4001, 'custom code'],
])('close %i is echoed with its reason, then the server ends the connection', async (code, reason) => {
  const client = await openSeed();
  client.send(encodeFrame(Opcode.CLOSE, closePayload(code, reason)));
  const frame = await client.nextFrame();
  expect([closeCode(frame), frame.payload.subarray(2).toString()]).toEqual([code, reason]);
  await client.ended;
  await client.finish();
});

test('a close reason that is not UTF-8 closes with 1007', async () => {
  expect(await closeCodeAfter(encodeFrame(Opcode.CLOSE, closePayload(1000, Buffer.from([0xc3, 0x28]))))).toBe(1007);
});

test.each<[string, string, string]>([
  ['no Sec-WebSocket-Key', seedRequest({ 'Sec-WebSocket-Key': null }), 'HTTP/1.1 400 Bad Request'],
  ['a malformed Sec-WebSocket-Key', seedRequest({ 'Sec-WebSocket-Key': 'short' }), 'HTTP/1.1 400 Bad Request'],
  ['Sec-WebSocket-Version: 12', seedRequest({ 'Sec-WebSocket-Version': '12' }), 'HTTP/1.1 400 Bad Request'],
  ['Upgrade: h2c', seedRequest({ Upgrade: 'h2c' }), 'HTTP/1.1 400 Bad Request'],
  ['POST', seedRequest({ 'Content-Length': '0' }, 'POST'), 'HTTP/1.1 405 Method Not Allowed'],
])('a failed handshake (%s) gets a raw HTTP error and a closed socket', async (_name, request, statusLine) => {
  const before = h.outcomes.length;
  const client = RawClient.open(h.port, request);
  const response = await client.readAll();
  expect(response.split('\r\n')[0]).toBe(statusLine);
  if (request.includes('Version: 12')) expect(response).toContain('Sec-WebSocket-Version: 13, 8');
  await client.finish();
  await waitFor(() => h.outcomes.length > before);
  expect(h.outcomes[h.outcomes.length - 1]).toEqual({ status: Number(statusLine.split(' ')[1]), bytesSent: 0 });
});

test('a client that resets the connection mid-session ends the session without a crash', async () => {
  const before = h.outcomes.length;
  const client = await openSeed();
  client.send(encodeFrame(Opcode.TEXT, 'bye'));
  await client.nextFrame();
  client.socket.resetAndDestroy();
  await waitFor(() => h.outcomes.length > before);
  expect(h.outcomes[h.outcomes.length - 1]).toEqual({ status: 101, bytesSent: 5 });
  expect(h.logs).toContain('info: failed to receive frame: closed');
});

test('afterwards the server still serves, logged the protocol errors, and holds no connection', async () => {
  const client = await openSeed();
  client.send(encodeFrame(Opcode.TEXT, 'still alive'));
  expect((await client.nextFrame()).payload.toString()).toBe('still alive');
  await client.finish();
  await waitFor(async () => (await h.connections()) === 0);
  expect(h.logs.some((line) => line.startsWith('error: failed to receive frame: Invalid WebSocket frame'))).toBe(true);
});
