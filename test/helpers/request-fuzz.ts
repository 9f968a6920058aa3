/**
 * The request fuzzer's inputs: raw bytes a client might send, made from a fixed seed so every
 * run sends the same ones. Request lines (methods, targets with odd bytes, versions), header
 * lines (Host values, lengths, `Transfer-Encoding` variants, odd names and values, folding,
 * many lines), bodies (by length, chunked with odd sizes and extensions), WebSocket upgrades
 * with frames after them, pipelined requests, truncations and bare LFs; and how the client
 * leaves (half-close, reset, or staying until it is closed).
 */

/** A deterministic PRNG (mulberry32): the same seed, the same inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How the client ends its side once the bytes are written. */
export type Ending = 'half-close' | 'reset' | 'wait';

/** One fuzz input. */
export interface FuzzInput {
  readonly index: number;
  readonly bytes: Buffer;
  readonly ending: Ending;
}

const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'PRI', 'FOO', 'get', 'G\x00T', 'GE T', '', 'M'.repeat(40)];
const PATHS = ['/', '/ret', '/ret?a=1&b=%20', '/static/file.txt', '/static/', '/static/missing', '/proxy/x', '/proxy/a?b=c', '/ws', '/nothing'];
const ODD_TARGETS = [
  '*', 'http://x/ret', 'http://x:99999/', 'example.com:443', '//ret', '/./ret', '/../ret', '/static/../ret', '/%00', '/%zz', '/%2e%2e/ret', '/%2F', '/a%',
  '/\x01', '/\x7f', '/\xff\xfe', '/é', '/a b', '/a\tb', '/#frag', '/?', '/??', `/${'a'.repeat(9000)}`, `/?${'q'.repeat(3000)}`, '', ' /',
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/01.1', 'HTTP/1.1 x', 'HTTP/', ''];
const HOSTS = ['x', 'x', 'localhost', '127.0.0.1', '[::1]', '[::1]:80', 'x:80', 'x:99999', 'x:abc', '', ' ', 'a b', 'a/b', 'x.', '.x', 'X', 'é', '\tx', 'x\x01', 'h'.repeat(300), '[::1', 'a..b'];
const TE = ['chunked', 'Chunked', ' chunked ', '\tchunked', 'chunked\t', 'gzip', 'gzip, chunked', 'chunked, chunked', 'identity', '', 'chunked;x', '\x0bchunked'];
const CL = ['0', '5', '10', '-1', '+5', '05', '5, 5', '99999999999999999999', 'abc', '\t5', '5 ', ''];
const GOOD_HEADERS = [
  'X-A: b', 'X_A: b', 'X-A:\tb', 'X-A: é', 'Connection: close', 'Connection: keep-alive', 'Connection: upgrade', 'Connection: close, Upgrade',
  'Expect: 100-continue', 'Expect: teapot', 'Range: bytes=0-1', 'Range: bytes=-1', 'Range: bytes=5-1, 0-0', 'If-None-Match: *',
  'If-Modified-Since: garbage', 'If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT', 'Accept-Encoding: gzip', 'Cookie: a=b', 'Authorization: Basic x',
  'Upgrade: websocket', 'Upgrade: h2c', 'Keep-Alive: timeout=1', `X-Long: ${'l'.repeat(2000)}`,
];
const ODD_HEADERS = ['X-A : b', 'X(A): b', ': b', 'NoColon', 'X-A: b\x01c', 'X-A: b\x00c', ' folded: x', 'X-A: b\r\n continued', `X-Long: ${'l'.repeat(9000)}`];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)];
}

/** A hex chunk size, now and then an odd one. */
function chunkSize(rand: () => number, size: number): string {
  const r = rand();
  if (r < 0.75) return size.toString(16);
  if (r < 0.8) return size.toString(16).toUpperCase();
  if (r < 0.85) return `${size.toString(16)};ext=1;x="y"`;
  if (r < 0.88) return `${size.toString(16)} `;
  return pick(rand, ['zz', '-1', 'ffffffffffffffffff', '', '0x5', ' 5']);
}

/** A chunked body, mostly well-formed. */
function chunkedBody(rand: () => number): string {
  let out = '';
  const chunks = Math.floor(rand() * 4);
  for (let i = 0; i < chunks; i++) {
    const size = Math.floor(rand() * 40);
    out += `${chunkSize(rand, size)}\r\n${'c'.repeat(size)}${rand() < 0.95 ? '\r\n' : ''}`;
  }
  out += rand() < 0.9 ? '0\r\n' : `${chunkSize(rand, 0)}\r\n`;
  if (rand() < 0.2) out += 'Trailer-A: t\r\n';
  return rand() < 0.9 ? `${out}\r\n` : out;
}

/** A WebSocket frame from the client: masked, or now and then not. */
function wsFrame(rand: () => number): Buffer {
  const opcode = pick(rand, [0x1, 0x1, 0x2, 0x8, 0x9, 0xa, 0x3, 0x0]);
  const payload = Buffer.from('p'.repeat(Math.floor(rand() * 140)));
  const masked = rand() < 0.9;
  const head = [(rand() < 0.9 ? 0x80 : 0) | opcode];
  if (payload.length < 126) head.push((masked ? 0x80 : 0) | payload.length);
  else head.push((masked ? 0x80 : 0) | 126, payload.length >> 8, payload.length & 0xff);
  const mask = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
  const body = Buffer.from(payload.map((b, i) => (masked ? b ^ mask[i % 4] : b)));
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** One request: a line, headers, maybe a body; mostly well-formed, each part odd now and then. */
function request(rand: () => number): Buffer {
  const method = rand() < 0.85 ? pick(rand, METHODS.slice(0, 8)) : pick(rand, METHODS);
  const target = rand() < 0.8 ? pick(rand, PATHS) : pick(rand, ODD_TARGETS);
  const version = rand() < 0.85 ? 'HTTP/1.1' : pick(rand, VERSIONS);
  const line = rand() < 0.95 ? `${method} ${target} ${version}` : pick(rand, [`${method}  ${target} ${version}`, `${method} ${target}`, `${method}\t${target} ${version}`, 'HELLO', '']);
  const headers: string[] = [];
  if (rand() < 0.9) headers.push(`Host: ${rand() < 0.8 ? 'x' : pick(rand, HOSTS)}`);
  if (rand() < 0.1) headers.push(`Host: ${pick(rand, HOSTS)}`);
  let body = '';
  const upgrade = target === '/ws' && rand() < 0.7;
  if (upgrade) {
    headers.push('Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13');
    if (rand() < 0.9) headers.push('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==');
  }
  const kind = rand();
  if (!upgrade && kind < 0.25) {
    const length = rand() < 0.8 ? String(Math.floor(rand() * 30)) : pick(rand, CL);
    headers.push(`Content-Length: ${length}`);
    const n = Number(length);
    const real = Number.isFinite(n) && n >= 0 && n < 1000 ? n : Math.floor(rand() * 20);
    body = 'b'.repeat(rand() < 0.85 ? real : Math.floor(rand() * (real + 10)));
  } else if (!upgrade && kind < 0.45) {
    headers.push(`Transfer-Encoding: ${rand() < 0.75 ? 'chunked' : pick(rand, TE)}`);
    if (rand() < 0.05) headers.push('Content-Length: 3');
    body = chunkedBody(rand);
  }
  const extra = Math.floor(rand() * 3);
  for (let i = 0; i < extra; i++) headers.push(rand() < 0.8 ? pick(rand, GOOD_HEADERS) : pick(rand, ODD_HEADERS));
  if (rand() < 0.03) for (let i = 0; i < 1001; i++) headers.push(`X-Many-${i}: v`);
  const eol = rand() < 0.97 ? '\r\n' : '\n';
  const head = Buffer.from(`${[line, ...headers].join(eol)}${eol}${eol}${body}`, 'latin1');
  if (!upgrade) return head;
  const frames = Array.from({ length: Math.floor(rand() * 4) }, () => wsFrame(rand));
  return Buffer.concat([head, ...frames]);
}

/** `count` inputs from `seed`: 1 to 4 pipelined requests, sometimes cut short, with a way to leave. */
export function fuzzInputs(seed: number, count: number): FuzzInput[] {
  const rand = prng(seed);
  const inputs: FuzzInput[] = [];
  for (let index = 0; index < count; index++) {
    const pipelined = rand() < 0.75 ? 1 : 1 + Math.floor(rand() * 4);
    let bytes = Buffer.concat(Array.from({ length: pipelined }, () => request(rand)));
    if (rand() < 0.15) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
    const r = rand();
    const ending: Ending = r < 0.6 ? 'half-close' : r < 0.75 ? 'reset' : 'wait';
    inputs.push({ index, bytes, ending });
  }
  return inputs;
}
