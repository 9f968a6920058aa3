/**
 * nginx's status lines and built-in error pages. nginx words some reasons its own way
 * (`405 Not Allowed`), and its pages end with the server's signature.
 */
import { STATUS_CODES } from 'node:http';

/** Reasons nginx words differently from Node's table. */
const NGINX_REASONS: Record<number, string> = {
  302: 'Moved Temporarily',
  405: 'Not Allowed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  416: 'Requested Range Not Satisfiable',
  494: 'Request Header Too Large',
  495: 'SSL Certificate Error',
  496: 'SSL Certificate Required',
  497: 'HTTP Request Sent to HTTPS Port',
  499: 'Client Closed Request',
};

/** The reason phrase nginx sends for `status`. */
export function reasonPhrase(status: number): string {
  return NGINX_REASONS[status] ?? STATUS_CODES[status] ?? 'Unknown';
}

/** nginx sends its own page for redirects and errors; other statuses get an empty body. */
export function hasErrorPage(status: number): boolean {
  return (status >= 301 && status <= 308 && status !== 304 && status !== 305 && status !== 306) || status >= 400;
}

/** The HTML nginx sends for `status`, signed with `signature` (`gateway/0.1.0` or `gateway`). */
export function errorPageHtml(status: number, signature: string): string {
  const title = `${status} ${reasonPhrase(status)}`;
  return (
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    `<hr><center>${signature}</center>\r\n</body>\r\n</html>\r\n`
  );
}
