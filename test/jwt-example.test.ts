/**
 * The JWT example as a user runs it: conf/examples/jwt.yaml with handlers/jwt-auth.ts and
 * handlers/jwks-refresh.ts, two workers, a JWKS server and a backend on loopback, tokens signed
 * with jose. A valid token passes on either worker with its claims forwarded to the backend;
 * missing, expired, bad-signature, unknown-kid and wrong-audience tokens get 401; a key rotation
 * at the JWKS server is picked up by both workers after the refresh interval.
 */
import http from 'node:http';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type KeyLike } from 'jose';
import { ROOT, runCli, startGateway, type GatewayProcess, waitForWorkers } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

const REFRESH = 0.5;

function example(jwks: number, backend: number): string {
  return exampleConf('jwt.yaml', [
    ['127.0.0.1:9001', `127.0.0.1:${backend}`],
    ['127.0.0.1:9002', `127.0.0.1:${jwks}`],
    ['refresh: 60', `refresh: ${REFRESH}`],
    ['      locations:\n', '      locations:\n        - { location: = /pid, return: "200 $pid" }\n'],
  ]);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, agent: http.Agent, p: string, token?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

interface Signer {
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

async function signer(kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

function token(s: Signer, claims: { sub?: string; exp?: number | string; aud?: string; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? s.kid })
    .setIssuer('https://idp.example')
    .setAudience(claims.aud ?? 'api')
    .setSubject(claims.sub ?? 'alice')
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '5m');
  return jwt.sign(s.privateKey);
}

describe('example: JWT verification at access, keys from a JWKS URL refreshed by a timer', () => {
  let keys: JWK[] = [];
  let jwksFetches = 0;
  const jwksServer = http.createServer((req, res) => {
    jwksFetches++;
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  const seen: http.IncomingHttpHeaders[] = [];
  const backend = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`backend ${req.url}`);
  });
  let gw: GatewayProcess;
  let port: number;
  const agents: http.Agent[] = [];
  let a: http.Agent;
  let b: http.Agent;
  let first: Signer;
  let second: Signer;

  beforeAll(async () => {
    first = await signer('key-1');
    second = await signer('key-2');
    keys = [first.jwk];
    await listen(jwksServer);
    await listen(backend);
    gw = await startGateway(example(portOf(jwksServer), portOf(backend)), { prefix: ROOT });
    port = gw.ports[0];
    // Both workers listening before connections are spread over them.
    await waitForWorkers(gw, 2);
    const byPid = new Map<string, http.Agent>();
    for (let i = 0; i < 40 && byPid.size < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const pid = (await get(port, agent, '/pid')).body;
      if (!byPid.has(pid)) byPid.set(pid, agent);
    }
    if (byPid.size < 2) throw new Error('the connections all went to one worker');
    [a, b] = [...byPid.values()];
    // Worker 0 fetches the key set when it starts.
    const deadline = Date.now() + 5000;
    while ((await get(port, a, '/api/x', await token(first))).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }, 30000);
  afterAll(async () => {
    for (const agent of agents) agent.destroy();
    await gw?.stop();
    await closeServer(jwksServer);
    await closeServer(backend);
  });

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/jwt.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('a valid token passes on both workers, its claims forwarded to the backend', async () => {
    for (const [agent, sub] of [[a, 'alice'], [b, 'bob']] as const) {
      const before = seen.length;
      const r = await get(port, agent, '/api/items', await token(first, { sub }));
      expect(r.status).toBe(200);
      expect(r.body).toBe('backend /api/items');
      expect(seen.length).toBe(before + 1);
      const claims = JSON.parse(Buffer.from(String(seen[before]['x-jwt-claims']), 'base64url').toString());
      expect(claims).toMatchObject({ sub, scope: 'read', iss: 'https://idp.example', aud: 'api' });
    }
  });

  test('no token, expired, bad signature, unknown kid, wrong audience: 401 with WWW-Authenticate, the backend sees nothing', async () => {
    const before = seen.length;
    const forged = await signer('key-1'); // same kid, another key: the signature does not verify
    const bad = [
      undefined,
      await token(first, { exp: Math.floor(Date.now() / 1000) - 120 }),
      await token(forged),
      await token(second),
      await token(first, { aud: 'other' }),
      'not.a.jwt',
    ];
    for (const agent of [a, b]) {
      for (const t of bad) {
        const r = await get(port, agent, '/api/items', t);
        expect(r.status).toBe(401);
        expect(r.headers['www-authenticate']).toBe('Bearer');
      }
    }
    expect(seen.length).toBe(before);
  });

  test('a key rotation at the JWKS server is picked up by both workers after the refresh interval', async () => {
    const old = await token(first);
    const fresh = await token(second);
    expect((await get(port, b, '/api/items', fresh)).status).toBe(401);
    const fetchesBefore = jwksFetches;
    keys = [second.jwk];
    await new Promise((r) => setTimeout(r, REFRESH * 1000 * 2 + 200));
    expect(jwksFetches).toBeGreaterThan(fetchesBefore);
    for (const agent of [a, b]) {
      expect((await get(port, agent, '/api/items', fresh)).status).toBe(200);
      expect((await get(port, agent, '/api/items', old)).status).toBe(401);
    }
  });
});
