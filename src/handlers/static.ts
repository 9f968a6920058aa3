/**
 * The `static` content handler: nginx's static, index and autoindex modules. A file is served
 * with Content-Type, Content-Length, Last-Modified, ETag and Accept-Ranges, answers
 * conditional and Range requests, and is streamed from its open descriptor; a URI ending in
 * `/` is served by its first existing `index` file, else listed (`autoindex on`) or refused;
 * a directory asked for without its slash is redirected. It reads no keys of its own.
 */
import type { FileHandle } from 'node:fs/promises';
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { HttpError } from '../errors';
import type { ConfigContext, Handler, HandlerEnv, HandlerModule, RequestContext } from '../types';
import { variableGetter } from '../variables';
import { readListing, renderAutoindex } from './autoindex';
import { contentTypeFor, describeSystemError, directoryRedirect, statusForOpenError } from './static-http';
import { compileStaticPaths, mapUriToPath, staysUnder, type PathTemplate, type StaticPaths } from './static-path';
import { formatBoundary, planResponse, type MultipartLayout } from './static-response';

/** What `configure` precomputes for a location: its compiled `root` and `alias`. */
export type StaticOptions = StaticPaths;

/** Opened without blocking, so a FIFO in the tree cannot stall a thread-pool thread. */
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;

let boundaryCounter = 0;
/** The next multipart boundary: a process-wide counter, 20 digits, as nginx's temp numbers. */
function nextBoundary(): string {
  boundaryCounter = (boundaryCounter % Number.MAX_SAFE_INTEGER) + 1;
  return formatBoundary(boundaryCounter);
}

const errno = (err: unknown) => err as NodeJS.ErrnoException;

/** Throws the HttpError for a failed open, logged as nginx logs it (`open() "/x" failed (2: ...)`). */
function openFailed(ctx: RequestContext, err: unknown, call: string, file: string): never {
  const status = statusForOpenError(errno(err).code);
  const message = `${call} "${file}" failed (${describeSystemError(errno(err))})`;
  if (status === 500) ctx.log.crit(message);
  else ctx.log.error(message);
  throw new HttpError(status);
}

/** An open file and what fstat() said of it. */
interface Opened {
  readonly fh: FileHandle;
  readonly stats: Stats;
}

async function openFile(file: string): Promise<Opened> {
  const fh = await open(file, OPEN_FLAGS);
  try {
    return { fh, stats: await fh.stat() };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Pipes a body to the response and settles when the response is closed. A client that goes
 * away destroys the source (closing its descriptor); a read error, or a file that turned out
 * shorter than announced, destroys the response, as nginx drops the connection.
 */
function pipeBody(source: Readable, res: ServerResponse, length: number, onError: (reason: string) => void): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      source.destroy();
      resolve();
      return;
    }
    let sent = 0;
    source.on('data', (chunk: Buffer) => (sent += chunk.length));
    source.once('error', (err) => {
      onError(describeSystemError(errno(err)));
      res.destroy();
    });
    source.once('end', () => {
      if (sent === length) res.end();
      else {
        onError(`read ${sent} of ${length} bytes, the file was truncated`);
        res.destroy();
      }
    });
    res.once('close', () => {
      source.destroy();
      resolve();
    });
    source.pipe(res, { end: false });
  });
}

/**
 * A multipart body read from one open file, closed when the stream closes (also when it is
 * destroyed before its first read, which a generator's `finally` would miss).
 */
function multipartStream(fh: FileHandle, layout: MultipartLayout): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    for (const part of layout.parts) {
      yield Buffer.from(part.head);
      yield* fh.createReadStream({ start: part.start, end: part.end, autoClose: false });
    }
    yield Buffer.from(layout.tail);
  }
  const body = Readable.from(parts(), { objectMode: false });
  body.once('close', () => void fh.close().catch(() => undefined));
  return body;
}

class StaticHandler implements Handler {
  constructor(private readonly paths: StaticPaths) {}

  async http(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw new HttpError(405);
    if (ctx.uri.includes('\0')) throw new HttpError(400);
    const file = this.map(ctx, ctx.uri);
    if (ctx.uri.endsWith('/')) return this.directory(req, res, ctx, file);
    let opened: Opened;
    try {
      opened = await openFile(file);
    } catch (err) {
      return openFailed(ctx, err, 'open()', file);
    }
    return this.serve(req, res, ctx, opened, file, ctx.uri);
  }

  /** The file path for a URI; refuses NUL bytes (400) and paths leaving the root (404). */
  private map(ctx: RequestContext, uri: string): string {
    const lookup = (name: string) => (/^\d$/.test(name) ? (ctx.captures[+name] ?? '') : ctx.variable(name));
    const { path, base } = mapUriToPath(uri, this.paths, lookup);
    if (path.includes('\0')) throw new HttpError(400);
    if (!staysUnder(path, base)) {
      ctx.log.error(`"${path}" is outside of "${base}"`);
      throw new HttpError(404);
    }
    return path;
  }

  /** A URI ending in `/`: the first existing index file, else the listing, else 403/404. */
  private async directory(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dir: string): Promise<void> {
    let dirChecked = false;
    for (const index of ctx.location.index) {
      const uri = index.startsWith('/') ? index : ctx.uri + index;
      const file = index.startsWith('/') ? this.map(ctx, index) : dir + index;
      let opened: Opened;
      try {
        opened = await openFile(file);
      } catch (err) {
        const code = errno(err).code;
        if (code !== 'ENOENT') return this.indexFailed(ctx, err, file);
        if (!dirChecked) {
          dirChecked = true;
          await stat(dir).catch((e: unknown) => this.indexFailed(ctx, e, file));
        }
        continue;
      }
      return this.serve(req, res, ctx, opened, file, uri);
    }
    if (ctx.location.autoindex && req.method !== 'POST') return this.listing(req, res, ctx, dir);
    if (!dirChecked) await stat(dir).catch((e: unknown) => openFailed(ctx, e, 'stat()', dir));
    ctx.log.error(`directory index of "${dir}" is forbidden`);
    throw new HttpError(403);
  }

  /** nginx's index errors: `"/x/index.html" is not found (2: ...)`, `... is forbidden`. */
  private indexFailed(ctx: RequestContext, err: unknown, file: string): never {
    const status = statusForOpenError(errno(err).code);
    if (status === 500) return openFailed(ctx, err, 'open()', file);
    const what = status === 404 ? 'is not found' : 'is forbidden';
    ctx.log.error(`"${file}" ${what} (${describeSystemError(errno(err))})`);
    throw new HttpError(status);
  }

  private async listing(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dir: string): Promise<void> {
    let body: Buffer;
    try {
      body = renderAutoindex(ctx.uri, await readListing(dir));
    } catch (err) {
      if (errno(err).syscall === 'scandir') return openFailed(ctx, err, 'opendir()', dir);
      ctx.log.crit(`stat() in "${dir}" failed (${describeSystemError(errno(err))})`);
      throw new HttpError(500);
    }
    res.setHeader('Content-Type', 'text/html');
    res.setHeader('Content-Length', body.length);
    res.writeHead(200);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** Serves an open file (or redirects a directory); always closes the descriptor. */
  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    { fh, stats }: Opened,
    file: string,
    uri: string,
  ): Promise<void> {
    let handedOver = false;
    try {
      if (stats.isDirectory()) {
        const port = ctx.variable('server_port');
        const location = directoryRedirect(ctx.scheme, ctx.host, port, uri, ctx.args);
        throw new HttpError(301, 'GW_HTTP_301', undefined, { Location: location });
      }
      if (!stats.isFile()) {
        ctx.log.crit(`"${file}" is not a regular file`);
        throw new HttpError(404);
      }
      if (req.method === 'POST') throw new HttpError(405);
      const loc = ctx.location;
      const plan = planResponse(
        req.headers,
        {
          size: stats.size,
          mtime: Math.floor(stats.mtimeMs / 1000),
          contentType: contentTypeFor(uri, loc.types, loc.defaultType),
          etag: loc.etag,
          ifModifiedSince: loc.ifModifiedSince,
        },
        nextBoundary,
      );
      if (plan.kind === 'precondition-failed') throw new HttpError(412);
      if (plan.kind === 'unsatisfiable') throw new HttpError(416, 'GW_HTTP_416', undefined, plan.headers);
      for (const [name, value] of Object.entries(plan.headers)) res.setHeader(name, value);
      if (plan.kind === 'not-modified') {
        res.writeHead(304);
        res.end();
        return;
      }
      res.writeHead(plan.kind === 'multipart' ? 206 : plan.status);
      const length = Number(plan.headers['Content-Length']);
      if (req.method === 'HEAD' || length === 0) {
        res.end();
        return;
      }
      const onError = (reason: string) => ctx.log.crit(`read of "${file}" failed (${reason})`);
      handedOver = true;
      if (plan.kind === 'multipart') {
        return await pipeBody(multipartStream(fh, plan.layout), res, length, onError);
      }
      const start = plan.range?.start ?? 0;
      const end = plan.range?.end ?? stats.size - 1;
      return await pipeBody(fh.createReadStream({ start, end }), res, length, onError);
    } finally {
      if (!handedOver) await fh.close().catch(() => undefined);
    }
  }
}

/** Reports a variable that nginx would not know in `root`/`alias`, at load. */
function checkVariables(template: PathTemplate | null, key: string, cx: ConfigContext): void {
  for (const part of template?.parts ?? []) {
    if ('variable' in part && !variableGetter(part.variable, cx.captureNames)) {
      cx.error(`unknown "${part.variable}" variable`, key);
    }
  }
}

/** The `static` handler module: no keys of its own; `root`/`alias` are compiled at load. */
const staticModule: HandlerModule<StaticOptions> = {
  configure(_raw, cx) {
    const loc = cx.location;
    if (loc.alias !== null && loc.match.kind === 'named') {
      cx.error('"alias" cannot be used inside the named location', 'alias');
    }
    const paths = compileStaticPaths(loc.root, loc.alias, loc.match, (p) => cx.resolve(p));
    checkVariables(paths.root, 'root', cx);
    checkVariables(paths.alias, 'alias', cx);
    return paths;
  },
  create(options: StaticOptions, _env: HandlerEnv): Handler {
    return new StaticHandler(options);
  },
};

export default staticModule;
