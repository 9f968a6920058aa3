/**
 * http/header-table.ts: a header checked once and put straight into Node's header table goes
 * out byte for byte as setHeader's would, replaces a header of the same name, and is refused
 * when checked if its value could not go out.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { checkedHeader, setCheckedHeader, setCheckedValue } from '../src/http/header-table';

/** The raw response head a server sends for one request, whose handler is `respond`. */
async function rawHead(respond: (res: ServerResponse) => void): Promise<string> {
  const server: Server = createServer((_req, res) => {
    respond(res);
    res.end('x');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text.split('\r\n\r\n')[0].replace(/^Date: .*\r\n/m, '')));
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

describe('header table', () => {
  test('the same bytes as setHeader, in the same order, a later value replacing an earlier one', async () => {
    const viaSetHeader = await rawHead((res) => {
      res.setHeader('Server', 'gateway/1');
      res.setHeader('Content-Type', 'text/html');
      res.setHeader('ETag', '"a-1"');
      res.setHeader('Content-Type', 'text/plain');
    });
    const checked = await rawHead((res) => {
      setCheckedValue(res, 'server', 'Server', 'gateway/1');
      setCheckedHeader(res, checkedHeader('Content-Type', 'text/html'));
      setCheckedValue(res, 'etag', 'ETag', '"a-1"');
      setCheckedHeader(res, checkedHeader('Content-Type', 'text/plain'));
    });
    expect(checked).toBe(viaSetHeader);
    expect(checked).toContain('\r\nServer: gateway/1\r\nContent-Type: text/plain\r\nETag: "a-1"\r\n');
  });

  test('what it set is what getHeader, hasHeader and removeHeader see', async () => {
    const head = await rawHead((res) => {
      setCheckedValue(res, 'etag', 'ETag', '"a-1"');
      setCheckedValue(res, 'accept-ranges', 'Accept-Ranges', 'bytes');
      expect(res.getHeader('etag')).toBe('"a-1"');
      expect(res.hasHeader('ETag')).toBe(true);
      res.removeHeader('accept-ranges');
    });
    expect(head).toContain('ETag: "a-1"');
    expect(head).not.toContain('Accept-Ranges');
  });

  test('a value setHeader would refuse is refused when it is checked', () => {
    expect(() => checkedHeader('Content-Type', 'text/html\r\nX-Injected: 1')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CHAR' }));
  });
});
