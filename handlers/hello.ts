/**
 * An example HTTP content handler: answers with a greeting and what the gateway knows of the
 * request, as JSON or text. Use it with `handler: hello` (found in handlers/ by its name).
 *
 *   - location: /hello
 *     handler: hello
 *     greeting: Hello from the gateway   # required
 *     format: json                        # json (default) or text
 */
import { defineHandler } from 'gateway';

interface HelloOptions {
  readonly greeting: string;
  readonly format: 'json' | 'text';
}

export default defineHandler({
  configure(_raw, cx): HelloOptions {
    const greeting = cx.string('greeting');
    if (!greeting) return cx.error('handler "hello" needs a "greeting"');
    const format = cx.string('format') ?? 'json';
    if (format !== 'json' && format !== 'text') return cx.error(`"format" must be "json" or "text", not "${format}"`, 'format');
    return { greeting, format };
  },

  create(options) {
    return {
      http(req, res, ctx) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
          return;
        }
        const info = {
          greeting: options.greeting,
          uri: ctx.uri,
          args: ctx.args,
          host: ctx.host,
          remoteAddr: ctx.variable('remote_addr'),
          name: ctx.variable('arg_name') || null,
        };
        const body =
          options.format === 'json'
            ? `${JSON.stringify(info)}\n`
            : `${options.greeting}${info.name ? `, ${info.name}` : ''}! You asked for ${info.uri} on ${info.host}.\n`;
        res.writeHead(200, {
          'Content-Type': options.format === 'json' ? 'application/json' : 'text/plain; charset=utf-8',
          'Content-Length': Buffer.byteLength(body),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
    };
  },
});
