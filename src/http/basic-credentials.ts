/**
 * The user and password of an `Authorization: Basic ...` header, read as nginx reads them
 * (ngx_http_auth_basic_user): the scheme word `Basic` in any case followed by a space, more
 * spaces skipped, then base64 decoded strictly up to the first `=` (a character outside the
 * alphabet, or a length of 4n+1, is no credentials; what follows the first `=` is ignored),
 * then split at the first `:`; an empty user or no `:` is no credentials. Bytes are kept as
 * latin1 strings, one character per byte, as Node hands header values over. `$remote_user` and
 * auth_basic both read it, whatever module is on.
 */

/** A user and a password, each a latin1 string of the decoded bytes. */
export interface BasicCredentials {
  readonly user: string;
  /** The password up to its first NUL byte: nginx hands it to crypt as a C string. */
  readonly password: string;
}

const BASE64 = /^[A-Za-z0-9+/]*$/;

/** The credentials of an Authorization header value, or null when it carries none nginx would read. */
export function basicCredentials(header: string | undefined): BasicCredentials | null {
  if (header === undefined || header.length < 6 || header.slice(0, 6).toLowerCase() !== 'basic ') return null;
  let start = 6;
  while (header.charCodeAt(start) === 0x20) start++;
  if (start === header.length) return null;
  const end = header.indexOf('=', start);
  const encoded = header.slice(start, end < 0 ? header.length : end);
  if (!BASE64.test(encoded) || encoded.length % 4 === 1) return null;
  const decoded = Buffer.from(encoded, 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  const rest = decoded.slice(colon + 1);
  const nul = rest.indexOf('\0');
  return { user: decoded.slice(0, colon), password: nul < 0 ? rest : rest.slice(0, nul) };
}
