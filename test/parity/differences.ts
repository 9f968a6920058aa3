/**
 * Every known difference between nginx and the gateway, in one place, each with its reason:
 * `deliberate` (the gateway differs on purpose, or Node's HTTP parser decides before the
 * gateway sees the request). Cases mark a request with one of these; the harness still
 * compares everything else of it.
 */
import { wholeResponse, type Aspect } from './compare';

type Marker = Readonly<Partial<Record<Aspect, string>>>;

const parser = (what: string): Marker => wholeResponse(`deliberate (Node's HTTP parser, llhttp): ${what}`);

/** Node's HTTP parser refuses what nginx takes, before the gateway sees the request. */
export const NODE_PARSER = {
  rawUtf8Target: parser('bytes above 0x7f in the request target are refused with 400; nginx takes them raw (clients percent-encode them, RFC 3986)'),
  unknownMethod: parser('methods outside its fixed list are refused with 400; nginx routes any upper-case token (static answers 405, return answers as usual)'),
  http09: parser('a request line without a version is HTTP/0.9, which nginx answers with the bare body; Node does not speak HTTP/0.9'),
  http12: parser('HTTP/1.x with x above 1 is refused with 400; nginx takes any HTTP/1.x'),
  bareLf: parser('LF-only line ends are refused with 400; nginx accepts them'),
  invalidHeader: parser('a header line that is not `name: value` with a token name is refused with 400; nginx ignores it (ignore_invalid_headers on)'),
  controlInHeader: parser('a control character in a header value is refused with 400; nginx takes it'),
  tabAroundValue: parser('tabs around a header value are stripped, as spaces are; nginx strips only spaces, so `Host:\\tx` is an invalid host to it (400). The gateway reads the raw line back only for Content-Length and Transfer-Encoding, on requests with a body (src/raw-head.ts)'),
} as const;

/** The gateway differs on purpose. */
export const DELIBERATE = {
  continueBeforeHandler: {
    interim: 'deliberate: the gateway sends 100 Continue once a request passed routing and client_max_body_size, before its handler; nginx sends it when a handler reads or discards the body, so a request the static handler refuses first (POST to a file: 405) gets none',
  } as Marker,
  /** The recording backend's answer (what reached it) is shorter by the header left behind. */
  requestHeaderNamedInConnection: {
    body: 'deliberate (RFC 9110 7.6.1): a header the client names in Connection is hop-by-hop and stays behind; nginx forwards it upstream',
    'content-length': 'deliberate: the same header left behind, so the recorded request is shorter',
  } as Marker,
  responseHeaderNamedInConnection: {
    'x-hop': 'deliberate (RFC 9110 7.6.1): a header the upstream names in Connection is hop-by-hop and is dropped; nginx passes it on',
  } as Marker,
  unaskedSwitch: {
    ...wholeResponse(
      'deliberate: a 101 to a request whose location forwards no Upgrade is never tunnelled (the gateway answers 502); nginx 1.22 tunnels it whenever the client sent an Upgrade (ngx_http_proxy_process_header sets u->upgrade from r->headers_in.upgrade), so a backend that switches anyway opens a tunnel past the access rules',
    ),
  } as Marker,
  realmHeaderInjection: {
    'www-authenticate':
      'deliberate: a realm made of variables that hold CR or LF (`auth_basic "$uri"` and a URI with %0D%0A) is written by nginx 1.22 as it is, which splits the header and injects others (Set-Cookie); the gateway leaves the control characters out',
    'set-cookie': 'deliberate: the Set-Cookie nginx 1.22 lets the split realm inject (see www-authenticate); the gateway sends none',
  } as Marker,
  /** What the auth service saw (`X-Auth-Seen`): the gateway's auth subrequest carries no body framing. */
  subrequestBodyFraming: {
    'x-auth-seen':
      "deliberate: nginx's auth subrequest sends the client's Content-Length (or Transfer-Encoding) with no body, so an auth service that reads the body waits for bytes that never come until a timeout (nginx's documentation adds `proxy_set_header Content-Length \"\"`); the gateway's subrequest has no body and says so: no framing header",
  } as Marker,
  aliasTraversal: {
    ...wholeResponse('deliberate: nginx serves the file outside the alias (the off-by-slash pitfall); the gateway checks every mapped path stays under its root or alias (DESIGN.md: "check the file path stays inside the root") and answers 404'),
  } as Marker,
} as const;

/** `map`: where the gateway's evaluation differs from nginx's on purpose. */
export const MAP = {
  regexCapturesStayInTheMap: {
    body: "deliberate: a map regex's captures ($1..., named) are its value's only; nginx 1.22 also overwrites the request's captures with them (ngx_http_regex_exec sets r->captures), so a location's $1 read after the map variable in the same value changes with whether the map was read first",
    'content-length': 'deliberate: the same body, of another length',
  } as Marker,
} as const;
