/**
 * `satisfy all|any` in the phase engine (nginx's ngx_http_core_access_phase and post-access
 * phase) with access handlers made to order, synchronous and asynchronous; the access
 * module's verdicts (allow: 'ok', deny: 403, no match: declined); `auth_delay`; and the
 * configuration of `satisfy`, `auth_delay`, `internal`, `auth_request` and `auth_request_set`
 * (nginx's errors, inheritance, variables declared anywhere).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../src/errors';
import { compileValue } from '../src/http/variables';
import { accessVerdict, compileAccessRules } from '../src/modules/access/access-rules';
import { authRequestModule } from '../src/modules/auth-request/module';
import { coreModule } from '../src/modules/core/module';
import { compilePhases, runSteps } from '../src/server/phase-engine';
import type { PhaseHandler, PhaseOutcome, RequestContext } from '../src/types';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

/** What a made-to-order access handler does: its outcome, a refusal, or either after a turn of the loop. */
type Act = 'ok' | 'declined' | 401 | 403 | 500 | 'done';

function handler(name: string, act: Act, ran: string[], async = false): PhaseHandler {
  const outcome = (): PhaseOutcome => {
    ran.push(name);
    if (typeof act === 'number') throw new HttpError(act, undefined, undefined, act === 401 ? { 'WWW-Authenticate': `Basic realm="${name}"` } : {});
    return act === 'declined' ? undefined : act;
  };
  return { phase: 'access', name, run: () => (async ? new Promise<PhaseOutcome>((resolve, reject) => setImmediate(() => { try { resolve(outcome()); } catch (err) { reject(err); } })) : outcome()) };
}

const req = { method: 'GET', url: '/x', httpVersion: '1.1', headers: { host: 'localhost' } } as unknown as IncomingMessage;

function context(lines: string[]): RequestContext {
  const log = { error: (m: string) => void lines.push(m), debug() {}, info() {}, notice() {}, warn() {}, crit() {} };
  return { log, remoteAddress: '127.0.0.1', server: { primaryName: 'site' } } as unknown as RequestContext;
}

/** Runs access handlers `acts` under `satisfy` (then a precontent handler that records it ran): what happened. */
async function run(satisfy: 'all' | 'any', acts: readonly Act[], async = false) {
  const ran: string[] = [];
  const lines: string[] = [];
  const handlers = [...acts.map((act, i) => handler(`h${i}`, act, ran, async)), { phase: 'precontent', name: 'after', run: () => void ran.push('precontent') } as PhaseHandler];
  const { steps } = compilePhases(handlers, satisfy);
  try {
    const answered = await runSteps(steps, req, null, context(lines));
    return { ran, lines, status: answered ? 'done' : 'through', headers: {} };
  } catch (err) {
    const e = err as HttpError;
    return { ran, lines, status: e.status, headers: e.headers };
  }
}

describe.each([false, true])('satisfy (asynchronous handlers: %s)', (async) => {
  test.each<[string, 'all' | 'any', Act[], string | number, string[]]>([
    // [what, satisfy, handlers, outcome, handlers that ran]
    ['all: every handler runs after an ok', 'all', ['ok', 'ok'], 'through', ['h0', 'h1', 'precontent']],
    ['all: ok then a refusal answers it', 'all', ['ok', 403], 403, ['h0', 'h1']],
    ['all: the first refusal answers, the rest do not run', 'all', [403, 'ok'], 403, ['h0']],
    ['all: declined handlers pass', 'all', ['declined', 'declined'], 'through', ['h0', 'h1', 'precontent']],
    ['all: a 401 answers at once', 'all', ['ok', 401, 403], 401, ['h0', 'h1']],
    ['any: the first ok ends the phase', 'any', ['ok', 403], 'through', ['h0', 'precontent']],
    ['any: a refusal, then an ok lets in', 'any', [403, 'ok'], 'through', ['h0', 'h1', 'precontent']],
    ['any: 403 then 401: the 401', 'any', [403, 401], 401, ['h0', 'h1']],
    ['any: 401 then 403: still the 401', 'any', [401, 403], 401, ['h0', 'h1']],
    ['any: 403 and 403: 403', 'any', [403, 403], 403, ['h0', 'h1']],
    ['any: none has anything to say: through', 'any', ['declined', 'declined'], 'through', ['h0', 'h1', 'precontent']],
    ['any: declined and a refusal: the refusal', 'any', ['declined', 403], 403, ['h0', 'h1']],
    ['any: a 500 answers at once', 'any', [403, 500, 'ok'], 500, ['h0', 'h1']],
    ['any: a handler that answered', 'any', [403, 'done', 'ok'], 'done', ['h0', 'h1']],
    ['any: one handler that refuses', 'any', [403], 403, ['h0']],
  ])('%s', async (_what, satisfy, acts, status, ran) => {
    const out = await run(satisfy, acts, async);
    expect(out.status).toBe(status);
    expect(out.ran).toEqual(ran);
  });

  test('any: every 401 adds its challenge, in order (nginx 1.22 pushes each into headers_out); an ok forgets the refusals', async () => {
    expect((await run('any', [401, 401], async)).headers).toEqual({ 'WWW-Authenticate': ['Basic realm="h0"', 'Basic realm="h1"'] });
    expect((await run('any', [401, 403, 401], async)).headers).toEqual({ 'WWW-Authenticate': ['Basic realm="h0"', 'Basic realm="h2"'] });
    expect((await run('any', [403, 401], async)).headers).toEqual({ 'WWW-Authenticate': 'Basic realm="h1"' });
    expect((await run('any', [401, 'ok'], async)).status).toBe('through');
  });

  test('any: an error after a 401 answers at once with the 401\'s challenge (nginx leaves it in headers_out)', async () => {
    expect(await run('any', [401, 500], async)).toMatchObject({ status: 500, headers: { 'WWW-Authenticate': ['Basic realm="h0"'] } });
    expect(await run('any', [403, 500], async)).toMatchObject({ status: 500, headers: {} });
  });

  test('any: a final 403 logs "access forbidden by rule", a 401 or an ok nothing', async () => {
    expect((await run('any', ['declined', 403], async)).lines).toEqual(['access forbidden by rule, client: 127.0.0.1, server: site, request: "GET /x HTTP/1.1", host: "localhost"']);
    expect((await run('any', [403, 401], async)).lines).toEqual([]);
    expect((await run('any', [403, 'ok'], async)).lines).toEqual([]);
  });
});

describe('auth_delay', () => {
  test.each<['all' | 'any', Act[]]>([
    ['all', [401]],
    ['any', [403, 401]],
  ])('%s %j: the 401 comes 150 ms later, with nginx\'s info line', async (satisfy, acts) => {
    const lines: string[] = [];
    const ctx = context(lines);
    (ctx.log as { info: (m: string) => void }).info = (m) => void lines.push(`info: ${m}`);
    const { steps } = compilePhases(acts.map((act, i) => handler(`h${i}`, act, [])), satisfy, 150);
    const start = performance.now();
    await expect(runSteps(steps, req, null, ctx)).rejects.toMatchObject({ status: 401 });
    expect(performance.now() - start).toBeGreaterThanOrEqual(140);
    expect(lines).toEqual(['info: delaying unauthorized request, client: 127.0.0.1, server: site, request: "GET /x HTTP/1.1", host: "localhost"']);
  });

  test('a 403, an ok, a 500 are not delayed', async () => {
    for (const act of [403, 'ok', 500] as Act[]) {
      const { steps } = compilePhases([handler('h', act, [])], 'all', 10_000);
      const start = performance.now();
      await Promise.resolve(runSteps(steps, req, null, context([]))).catch(() => undefined);
      expect(performance.now() - start).toBeLessThan(1000);
    }
  });
});

test('a rewrite handler\'s ok still ends its own phase (only access goes on)', async () => {
  const ran: string[] = [];
  const rewrite = (name: string, outcome: PhaseOutcome): PhaseHandler => ({ phase: 'rewrite', name, run: () => (ran.push(name), outcome) });
  const { steps } = compilePhases([rewrite('r0', 'ok'), rewrite('r1', undefined), handler('a0', 'ok', ran), handler('a1', 'ok', ran)], 'all');
  expect(await runSteps(steps, req, null, context([]))).toBe(false);
  expect(ran).toEqual(['r0', 'a0', 'a1']);
});

test('gateway -T names the satisfy any handler with the handlers it combines', () => {
  const { steps } = compilePhases([handler('allow/deny', 'ok', []), handler('auth_request /auth', 'ok', [])], 'any');
  expect(steps.map((s) => `${s.handler.phase}: ${s.handler.name}`)).toEqual(['access: satisfy any: allow/deny, auth_request /auth']);
});

describe('the access module\'s verdicts', () => {
  const rules = (...lines: string[]) => compileAccessRules(lines.map((l) => ({ deny: l.startsWith('deny'), value: l.split(' ')[1] }))).rules;
  test.each([
    [['allow 127.0.0.1'], '127.0.0.1', 'allow'],
    [['deny 127.0.0.1'], '127.0.0.1', 'deny'],
    [['allow 10.0.0.0/8'], '127.0.0.1', null],
    [['allow ::1'], '127.0.0.1', null],
    [['allow 127.0.0.1'], '::ffff:127.0.0.1', 'allow'],
    [['deny ::1'], '::1', 'deny'],
    [['allow 10.0.0.1'], '::1', null],
    [['allow unix:'], '', 'allow'],
    [['allow 127.0.0.1'], '', null],
  ])('%j, client %j: %j', (lines, client, verdict) => expect(accessVerdict(rules(...lines), client)).toBe(verdict));
});

describe('configuration', () => {
  const yaml = (location: string, http = '') => `http:\n${http}  servers:\n    - locations:\n        - location: /\n${location}`;

  test.each([
    ['          auth_delay: soon\n', 'invalid time "soon" in /virtual/site.yaml:5:23'],
    ['          internal: yes\n', 'invalid number of arguments in "internal" directive (it takes none; write "internal:" or "internal: on") in /virtual/site.yaml:5:21'],
    ['          satisfy: maybe\n', 'invalid value "maybe" in "satisfy" directive, it must be "all" or "any" in /virtual/site.yaml:5:20'],
    ['          auth_request: "a b"\n', 'invalid number of arguments in "auth_request" directive in /virtual/site.yaml:5:25'],
    ['          auth_request_set: "foo bar"\n', 'invalid variable name "foo" in /virtual/site.yaml:5:29'],
    ['          auth_request_set: "$host x"\n', 'the duplicate "host" variable in /virtual/site.yaml:5:29'],
    ['          auth_request_set: "$x"\n', 'invalid number of arguments in "auth_request_set" directive in /virtual/site.yaml:5:29'],
    ['          auth_request_set: "$x $nope"\n', 'unknown "nope" variable in /virtual/site.yaml:5:29'],
  ])('%j', (location, message) => expect(configErrorOf(yaml(location))).toBe(message));

  test('satisfy and auth_request are inherited; auth_request off; auth_request_set as pairs or a map', () => {
    const conf = buildVirtual(
      'http:\n  satisfy: any\n  auth_delay: 1s\n  auth_request: /auth\n  auth_request_set: ["$who $upstream_http_x_user"]\n  servers:\n    - locations:\n' +
        '        - location: /a\n        - location: /b\n          auth_request: "off"\n          satisfy: all\n' +
        '        - location: /c\n          auth_request_set: { $who: $remote_addr, $what: $upstream_http_x_what }\n',
    );
    const [a, b, c] = conf.http.servers[0].locations;
    expect(a.confs.get(coreModule).satisfy).toBe('any');
    expect(a.confs.get(coreModule).authDelay).toBe(1000);
    expect(a.confs.get(authRequestModule)).toEqual({ authRequest: '/auth', authRequestSet: [['who', '$upstream_http_x_user']] });
    expect(b.confs.get(coreModule).satisfy).toBe('all');
    expect(b.confs.get(authRequestModule).authRequest).toBeNull();
    expect(c.confs.get(authRequestModule).authRequestSet).toEqual([['who', '$remote_addr'], ['what', '$upstream_http_x_what']]);
  });

  test('a variable auth_request_set declares may be used anywhere, before it too, as in nginx', () => {
    const conf = buildVirtual(
      'http:\n  add_header: "X-Who $who"\n  servers:\n    - locations:\n        - location: /\n          return: "200 $who"\n' +
        '        - location: /in\n          auth_request: /auth\n          auth_request_set: "$who $upstream_http_x_user"\n',
    );
    expect(conf.captureNames.has('who')).toBe(true);
    // Declared names win over a family's, as nginx's exact names.
    expect(compileValue('$who', conf.captureNames)({ setValues: new Map([['who', 'alice']]), namedCaptures: {} } as never)).toBe('alice');
  });

  test('internal: a location\'s own, written with no value or on', () => {
    const conf = buildVirtual('http:\n  servers:\n    - locations:\n        - location: /a\n          internal:\n        - location: /b\n          internal: on\n        - location: /c\n');
    expect(conf.http.servers[0].locations.map((l) => l.confs.get(coreModule).internal)).toEqual([true, true, false]);
    expect(configErrorOf('http:\n  internal: on\n  servers: []\n')).toMatch(/"internal" directive is not allowed here|not allowed/);
  });

  test('a family name may be declared (nginx takes $upstream_http_x too)', () => {
    expect(() => buildVirtual(yaml('          auth_request_set: "$upstream_http_x y"\n'))).not.toThrow();
  });
});
