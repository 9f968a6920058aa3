/**
 * An example access script (OpenResty's `access_by_lua` with lua-resty-jwt): verifies the
 * bearer token of `Authorization` with the `jose` library against the JSON Web Key Set that
 * `handlers/jwks-refresh.ts` keeps in a shared dictionary, in front of the built-in proxy. A
 * token that is missing, expired, not yet valid, signed by a key not in the set (an unknown
 * `kid`) or with a bad signature, or whose issuer or audience is not the configured one: 401 with
 * `WWW-Authenticate: Bearer`. A valid one: its claims go to the backend as a header (base64url
 * JSON), and the token itself too (as sent).
 *
 *   access_by: { script: jwt-auth, options: { dict: jwks, issuer: https://idp.example, audience: api } }
 *   proxy_pass: http://backend
 */
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { definePhaseScript } from 'gateway';
import { JWKS_KEY } from './jwks-refresh';

interface JwtAuthOptions {
  readonly dict: string;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly claimsHeader: string;
  readonly algorithms: string[];
}

/** The key set last parsed, per worker: parsed again only when the dictionary's text changes. */
let cached: { text: string; keys: JWTVerifyGetKey } | null = null;

function keySet(text: string): JWTVerifyGetKey {
  if (cached?.text !== text) cached = { text, keys: createLocalJWKSet(JSON.parse(text) as JSONWebKeySet) };
  return cached.keys;
}

export default definePhaseScript<JwtAuthOptions>({
  configure(raw, cx) {
    if (typeof raw.dict !== 'string' || raw.dict === '') cx.error('"dict" must name a shared_dict', 'dict');
    for (const k of ['issuer', 'audience'] as const) if (raw[k] !== undefined && typeof raw[k] !== 'string') cx.error(`"${k}" must be a string`, k);
    const claimsHeader = raw.claims_header ?? 'X-Jwt-Claims';
    if (typeof claimsHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(claimsHeader)) cx.error('"claims_header" must be a header name', 'claims_header');
    const algorithms = raw.algorithms ?? ['RS256', 'ES256', 'EdDSA'];
    if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string' && a !== 'none')) cx.error('"algorithms" must be a list of JWS algorithms', 'algorithms');
    return { dict: raw.dict as string, issuer: raw.issuer as string | undefined, audience: raw.audience as string | undefined, claimsHeader: claimsHeader as string, algorithms: algorithms as string[] };
  },
  async run(r, options) {
    const refuse = (why: string): never => {
      r.log.info(`jwt-auth: ${why}`);
      r.setResponseHeader('WWW-Authenticate', 'Bearer');
      return r.exit(401);
    };
    const auth = r.header('authorization');
    const token = typeof auth === 'string' && /^Bearer [A-Za-z0-9._~+/=-]+$/i.test(auth) ? auth.slice(7) : null;
    if (!token) return refuse('no bearer token');
    const text = r.shared.get(options.dict)?.get(JWKS_KEY);
    if (typeof text !== 'string') return refuse('no key set yet');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keySet(text), { issuer: options.issuer, audience: options.audience, algorithms: options.algorithms }));
    } catch (err) {
      if (err instanceof errors.JOSEError) return refuse(err.code);
      throw err;
    }
    r.setHeader(options.claimsHeader, Buffer.from(JSON.stringify(payload)).toString('base64url'));
    r.ctx.jwt = payload;
  },
});
