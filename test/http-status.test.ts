/** nginx's status lines and built-in pages, as tables (the parity suite checks them against nginx). */
import { errorPageHtml, hasErrorPage, pageStatus, reasonPhrase, wantsMsiePadding } from '../src/http/status';

describe('reasonPhrase', () => {
  test.each([
    [200, 'OK'],
    [302, 'Moved Temporarily'],
    [405, 'Not Allowed'],
    [408, 'Request Time-out'],
    [503, 'Service Temporarily Unavailable'],
    [504, 'Gateway Time-out'],
    [203, ''],
    [418, ''],
    [431, ''],
    [599, ''],
  ])('%p -> %p', (status, reason) => expect(reasonPhrase(status)).toBe(reason));
});

describe('errorPageHtml', () => {
  test('a page: title, heading, signature', () => {
    expect(errorPageHtml(404, 'gateway/1.0')).toBe(
      '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n' +
        '<hr><center>gateway/1.0</center>\r\n</body>\r\n</html>\r\n',
    );
  });
  test.each([
    [302, '302 Found'],
    [401, '401 Authorization Required'],
    [503, '503 Service Temporarily Unavailable'],
  ])('%p is titled %p', (status, title) => expect(errorPageHtml(status, 'x')).toContain(`<title>${title}</title>`));
  test('494 goes out as a 400 with its reason on a second line', () => {
    expect(pageStatus(494)).toBe(400);
    expect(errorPageHtml(494, 'x')).toContain(
      '<title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n',
    );
  });
  test.each([204, 304, 407, 418, 431, 499, 506, 508])('%p has no page', (status) => {
    expect(hasErrorPage(status)).toBe(false);
    expect(errorPageHtml(status, 'x')).toBe('');
  });
  test('MSIE padding on 4xx and 5xx pages only', () => {
    expect(errorPageHtml(404, 'x', true)).toMatch(/(<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n){6}$/);
    expect(errorPageHtml(301, 'x', true)).not.toContain('padding');
  });
});

describe('wantsMsiePadding', () => {
  test.each([
    ['Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)', true],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', true],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0', false],
    ['Opera/9.80 (MSIE 6.0)', false],
    ['curl/8.0', false],
    [undefined, false],
  ])('%p -> %p', (ua, wanted) => expect(wantsMsiePadding(ua)).toBe(wanted));
});
