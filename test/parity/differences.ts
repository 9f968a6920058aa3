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
} as const;

/** The gateway differs on purpose. */
export const DELIBERATE = {
  continueBeforeHandler: {
    interim: 'deliberate: the gateway sends 100 Continue once a request passed routing and client_max_body_size, before its handler; nginx sends it when a handler reads or discards the body, so a request the static handler refuses first (POST to a file: 405) gets none',
  } as Marker,
  aliasTraversal: {
    ...wholeResponse('deliberate: nginx serves the file outside the alias (the off-by-slash pitfall); the gateway checks every mapped path stays under its root or alias (DESIGN.md: "check the file path stays inside the root") and answers 404'),
  } as Marker,
} as const;
