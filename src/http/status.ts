/**
 * nginx's status lines and built-in error pages (ngx_http_header_filter_module's status
 * lines, ngx_http_special_response's pages). nginx words some reasons its own way
 * (`405 Not Allowed`, `503 Service Temporarily Unavailable`), has no reason for codes outside
 * its table (`HTTP/1.1 418 `), no page for some codes (an empty body), titles a few pages
 * differently from their status line (`302 Found`), and its pages end with the server's
 * signature.
 */

/** nginx's reason phrases; a code not here gets none. */
const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Time-out',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
  505: 'HTTP Version Not Supported',
  507: 'Insufficient Storage',
};

/**
 * The codes nginx has a page for, with the page's title where it is not the status line's
 * `code reason`. 494-497 are nginx's own codes for requests it answers with `400` and a
 * second line naming the reason; 498 gets the 404 page.
 */
const PAGES: ReadonlyMap<number, string | null> = new Map<number, string | null>([
  ...[301, 303, 307, 308, 400, 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 421, 429].map((c) => [c, null] as const),
  ...[500, 501, 502, 504, 505, 507].map((c) => [c, null] as const),
  [302, '302 Found'],
  [401, '401 Authorization Required'],
  [503, '503 Service Temporarily Unavailable'],
  [494, '400 Request Header Or Cookie Too Large'],
  [495, '400 The SSL certificate error'],
  [496, '400 No required SSL certificate was sent'],
  [497, '400 The plain HTTP request was sent to HTTPS port'],
  [498, '404 Not Found'],
]);

/** nginx's codes answered as `400 Bad Request` with a page of their own. */
const SENT_AS_400 = new Set([494, 495, 496, 497]);

/** What nginx pads 4xx and 5xx pages with for MSIE and Chrome (`msie_padding on`). */
const MSIE_PADDING = '<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n'.repeat(6);

/** The reason phrase nginx sends for `status`; empty for a code nginx has none for. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/** Whether nginx sends its own page for `status`; the others get an empty body. */
export function hasErrorPage(status: number): boolean {
  return PAGES.has(status);
}

/** The status a page for `status` is sent with: nginx's 494-497 go out as 400. */
export function pageStatus(status: number): number {
  return SENT_AS_400.has(status) ? 400 : status;
}

/**
 * Whether nginx pads an error page for this User-Agent: MSIE (`MSIE ` and a version, not
 * Opera) or Chrome (`Chrome/`, not a Gecko), as ngx_http_process_user_agent tells them.
 */
export function wantsMsiePadding(userAgent: string | undefined): boolean {
  if (!userAgent || userAgent.includes('Opera')) return false;
  const msie = userAgent.indexOf('MSIE ');
  if (msie >= 0 && msie + 7 < userAgent.length) return true;
  return !userAgent.includes('Gecko/') && userAgent.includes('Chrome/');
}

/**
 * The HTML nginx sends for `status`, signed with `signature` (`gateway/0.1.0` or `gateway`);
 * `msiePadding` adds nginx's padding to a 4xx or 5xx page. Empty for a code without a page.
 */
export function errorPageHtml(status: number, signature: string, msiePadding = false): string {
  if (!PAGES.has(status)) return '';
  const title = PAGES.get(status) ?? `${status} ${reasonPhrase(status)}`;
  const heading = SENT_AS_400.has(status)
    ? `<center><h1>400 Bad Request</h1></center>\r\n<center>${title.slice(4)}</center>\r\n`
    : `<center><h1>${title}</h1></center>\r\n`;
  const padding = msiePadding && status >= 400 ? MSIE_PADDING : '';
  return (
    `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n${heading}` +
    `<hr><center>${signature}</center>\r\n</body>\r\n</html>\r\n${padding}`
  );
}
