/**
 * The `static` content handler: nginx's static, index, autoindex and gzip_static modules. A
 * file is served with Content-Type, Content-Length, Last-Modified, ETag and Accept-Ranges,
 * answers conditional and Range requests, and is streamed from its open descriptor (or sent
 * from the open file cache); a URI ending in `/` is redirected internally to its first
 * existing `index` file, else listed (`autoindex on`) or refused; a directory asked for
 * without its slash is redirected. Files are reached through `disable_symlinks` and
 * `open_file_cache` (shared/file-access.ts). It reads no keys of its own: `configure` takes
 * what it serves by from the core, index, autoindex and gzip modules' confs of its location.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, InternalRedirect } from '../../errors';
import type { MimeTypes } from '../../config/mime';
import { absoluteLocation, type RedirectConf } from '../../http/redirect';
import { compilePathTemplate, compileStaticPaths, mapUriToPath, staysUnder, type StaticPaths } from '../../shared/document-path';
import { FileAccess, fileAccessConf, fileIdentity, type FileInfo, type FileLookupDirectives, type OpenedFile } from '../../shared/file-access';
import { describeSystemError, statusForOpenError } from '../../shared/system-errors';
import type { ConfigContext, Handler, HandlerModule, RequestContext } from '../../types';
import { autoindexModule } from '../autoindex/module';
import { readListing, renderAutoindex } from '../autoindex/autoindex';
import { ADD_URI_TO_ALIAS } from '../core/try-files';
import { coreModule, type CoreConf } from '../core/module';
import { wantGzipVary } from '../gzip/filter';
import { compileGzipOk, gzipOk, type GzipOkConf } from '../gzip/gzip-ok';
import { gzipModule, type GzipConf } from '../gzip/module';
import { indexModule } from '../index/module';
import { nextBoundary, sendFromFile, sendFromMemory } from './body';
import { contentTypeFor, directoryPath } from './http';
import { httpTuningModule } from '../tuning/http-module';
import { preparedHeaders, setPreparedHeaders } from './prepared';
import { planResponse } from './response';

/** What `configure` takes from its location, once: how files are found and served. */
export interface StaticOptions {
  /** `root` and `alias`, compiled. */
  readonly paths: StaticPaths;
  readonly files: FileLookupDirectives;
  readonly index: readonly string[];
  readonly autoindex: boolean;
  readonly types: MimeTypes;
  readonly defaultType: string;
  readonly etag: boolean;
  readonly ifModifiedSince: CoreConf['ifModifiedSince'];
  readonly gzipStatic: GzipConf['gzipStatic'];
  readonly gzipVary: boolean;
  readonly gzipOk: GzipOkConf;
  /** The named captures `disable_symlinks from=` may use. */
  readonly captureNames: ReadonlySet<string>;
  /** How a directory's redirect names the host and port (`absolute_redirect`...). */
  readonly redirect: RedirectConf;
  /** `log_not_found`: whether a file not found is logged. */
  readonly logNotFound: boolean;
}

const errno = (err: unknown) => err as NodeJS.ErrnoException;
const describe = (err: unknown) => describeSystemError(errno(err));

/** The call nginx names in its log: `openat()` when it walked the path for disable_symlinks. */
function callOf(err: unknown, fallback: string): string {
  return errno(err).syscall === 'openat' ? 'openat()' : fallback;
}

/** Throws the HttpError for a failed open, logged as nginx logs it (`open() "/x" failed (2: ...)`), a 404 only with `log_not_found on`. */
function openFailed(ctx: RequestContext, err: unknown, call: string, file: string, logNotFound: boolean): never {
  const status = statusForOpenError(errno(err).code);
  const message = `${callOf(err, call)} "${file}" failed (${describe(err)})`;
  if (status === 500) ctx.log.crit(message);
  // `log_not_found off`: a file that is not there is not logged (nginx's static and index modules).
  else if (status !== 404 || logNotFound) ctx.log.error(message);
  throw new HttpError(status);
}

/** Whether the response already has a Content-Type or Accept-Ranges (an upstream's, carried by X-Accel-Redirect) that the file's headers must keep. */
function carriesFileHeaders(res: ServerResponse): boolean {
  return res.hasHeader('content-type') || res.hasHeader('accept-ranges');
}

class StaticHandler implements Handler {
  private readonly paths: StaticPaths;
  private readonly gzipStatic: StaticOptions['gzipStatic'];

  constructor(
    private readonly opts: StaticOptions,
    private readonly files: FileAccess,
  ) {
    this.paths = opts.paths;
    this.gzipStatic = opts.gzipStatic;
  }

  http(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void | Promise<void> {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') throw new HttpError(405);
    if (ctx.uri.includes('\0')) throw new HttpError(400);
    const file = this.map(ctx, ctx.uri);
    if (ctx.uri.endsWith('/')) return this.directory(req, res, ctx, file);
    if (this.gzipStatic !== 'off' && method !== 'POST') return this.gzippedOrPlain(req, res, ctx, file);
    const opened = this.files.open(file, ctx);
    // A small file in memory (a hot one, or one read at once without a cache): a plain GET or
    // HEAD of it is answered in this turn, unless an X-Accel-Redirect carried headers to keep.
    if (!(opened instanceof Promise) && opened.content !== null && method !== 'POST' && wantsWholeFile(req) && !carriesFileHeaders(res)) {
      return this.sendWhole(req, res, ctx, opened.info, opened.content);
    }
    return this.openThenServe(req, res, ctx, file, opened);
  }

  /** gzip_static's `.gz` when it serves one, else the file itself. */
  private async gzippedOrPlain(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, file: string): Promise<void> {
    if (await this.gzipped(req, res, ctx, file)) return;
    return this.openThenServe(req, res, ctx, file, this.files.open(file, ctx));
  }

  /** Serves `file` once it is open; a failed open is answered as nginx answers it. */
  private async openThenServe(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, file: string, opening: OpenedFile | Promise<OpenedFile>): Promise<void> {
    let opened: OpenedFile;
    try {
      opened = await opening;
    } catch (err) {
      return openFailed(ctx, err, 'open()', file, this.opts.logNotFound);
    }
    return this.serve(req, res, ctx, opened, file, false);
  }

  /**
   * A whole 200 (or its HEAD) of a file held in memory, for a request without Range or
   * conditional headers: the headers planResponse would give, prepared once per file.
   */
  private sendWhole(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, info: FileInfo, content: Buffer): void {
    setPreparedHeaders(res, preparedHeaders(content, info, ctx.uri, this.opts, this.files.keepsContent));
    res.writeHead(200);
    if (req.method === 'HEAD' || content.length === 0) res.end();
    else res.end(content);
  }

  /** The file path for a URI; refuses NUL bytes (400) and paths leaving the root (404). */
  private map(ctx: RequestContext, uri: string): string {
    const addUri = this.paths.alias !== null && ctx.data[ADD_URI_TO_ALIAS] === true;
    const { path, base } = mapUriToPath(uri, this.paths, ctx, addUri);
    if (path.includes('\0')) throw new HttpError(400);
    if (!staysUnder(path, base)) {
      ctx.log.error(`"${path}" is outside of "${base}"`);
      throw new HttpError(404);
    }
    return path;
  }

  /**
   * nginx's gzip_static: `file.gz` with Content-Encoding: gzip when the client may have it
   * (`on`) or always; `on` asks for Vary once the `.gz` exists. False when it declines.
   */
  private async gzipped(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, file: string): Promise<boolean> {
    const ok = this.gzipStatic === 'always' || gzipOk(req, this.opts.gzipOk);
    if (!ok && !this.opts.gzipVary) return false;
    let opened: OpenedFile;
    try {
      opened = await this.files.open(`${file}.gz`, ctx);
    } catch (err) {
      const code = errno(err).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return false;
      const message = `${callOf(err, 'open()')} "${file}.gz" failed (${describe(err)})`;
      if (code === 'EACCES' || code === 'ELOOP' || code === 'EMLINK') ctx.log.error(message);
      else ctx.log.crit(message);
      return false;
    }
    if (this.gzipStatic === 'on') wantGzipVary(res);
    if (!ok || opened.info.isDir) {
      await opened.fh?.close().catch(() => undefined);
      return false;
    }
    await this.serve(req, res, ctx, opened, `${file}.gz`, true);
    return true;
  }

  /** A URI ending in `/`: redirect to the first existing index file, else the listing, else 403/404. */
  private async directory(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dir: string): Promise<void> {
    let dirChecked = false;
    for (const index of this.opts.index) {
      if (index.startsWith('/')) throw new InternalRedirect(index, ctx.args);
      const file = dir + index;
      try {
        await this.files.probe(file, ctx);
      } catch (err) {
        const code = errno(err).code;
        if (code === 'ELOOP' || code === 'EMLINK') throw new HttpError(403);
        if (code !== 'ENOENT') return this.indexFailed(ctx, err, file);
        if (!dirChecked) {
          dirChecked = true;
          await this.files.probe(dir, ctx).catch((e: unknown) => this.indexFailed(ctx, e, dir));
        }
        continue;
      }
      throw new InternalRedirect(ctx.uri + index, ctx.args);
    }
    if (this.opts.autoindex && req.method !== 'POST') return this.listing(req, res, ctx, dir);
    if (!dirChecked) await this.files.probe(dir, ctx).catch((e: unknown) => openFailed(ctx, e, 'stat()', dir, this.opts.logNotFound));
    ctx.log.error(`directory index of "${dir}" is forbidden`);
    throw new HttpError(403);
  }

  /** nginx's index errors: `"/x/index.html" is not found (2: ...)`, `... is forbidden`. */
  private indexFailed(ctx: RequestContext, err: unknown, file: string): never {
    const status = statusForOpenError(errno(err).code);
    if (status === 500) return openFailed(ctx, err, 'open()', file, this.opts.logNotFound);
    const what = status === 404 ? 'is not found' : 'is forbidden';
    ctx.log.error(`"${file}" ${what} (${describe(err)})`);
    throw new HttpError(status);
  }

  private async listing(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, dir: string): Promise<void> {
    let body: Buffer;
    try {
      body = renderAutoindex(ctx.uri, await readListing(dir));
    } catch (err) {
      if (errno(err).syscall === 'scandir') return openFailed(ctx, err, 'opendir()', dir, this.opts.logNotFound);
      ctx.log.crit(`stat() in "${dir}" failed (${describe(err)})`);
      throw new HttpError(500);
    }
    // nginx streams the listing: chunked, without Content-Length (a write before end keeps
    // Node from adding one).
    res.setHeader('Content-Type', 'text/html');
    res.writeHead(200);
    if (req.method !== 'HEAD') res.write(body);
    res.end();
  }

  /**
   * Serves an opened file (or redirects a directory); always closes its descriptor. A `.gz`
   * of gzip_static takes its type from the URI, says Content-Encoding: gzip, and takes no ranges.
   */
  private async serve(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, opened: OpenedFile, file: string, gzipped: boolean): Promise<void> {
    const { info, fh } = opened;
    let handedOver = false;
    try {
      if (info.isDir) {
        const location = absoluteLocation(directoryPath(ctx.uri, ctx.args), this.opts.redirect, req, ctx);
        throw new HttpError(301, 'GW_HTTP_301', undefined, { Location: location });
      }
      if (!info.isFile) {
        ctx.log.crit(`"${file}" is not a regular file`);
        throw new HttpError(404);
      }
      if (req.method === 'POST') throw new HttpError(405);
      const o = this.opts;
      const facts = { size: info.size, mtime: Math.floor(info.mtimeMs / 1000), contentType: contentTypeFor(ctx.uri, o.types, o.defaultType), etag: o.etag, ifModifiedSince: o.ifModifiedSince };
      // No ranges for a .gz of gzip_static, nor for what the gzip filter will compress (nginx's
      // gzip filter turns the range filter off).
      const noRanges = gzipped || (req.headers.range !== undefined && ctx.transforms(facts.contentType, info.size));
      const headers = noRanges ? { ...req.headers, range: undefined, 'if-range': undefined } : req.headers;
      const plan = planResponse(headers, facts, nextBoundary);
      if (plan.kind === 'precondition-failed') throw new HttpError(412);
      if (plan.kind === 'unsatisfiable') throw new HttpError(416, 'GW_HTTP_416', undefined, plan.headers);
      // A Content-Type already set (an upstream's, carried by X-Accel-Redirect) stays, as nginx's
      // ngx_http_set_content_type leaves one; an Accept-Ranges is added beside one already there.
      const typed = res.hasHeader('content-type') && plan.kind !== 'multipart';
      for (const [name, value] of Object.entries(plan.headers)) {
        if ((gzipped && name === 'Accept-Ranges') || (typed && name === 'Content-Type')) continue;
        if (name === 'Accept-Ranges') res.appendHeader(name, value);
        else res.setHeader(name, value);
      }
      if (gzipped) res.setHeader('Content-Encoding', 'gzip');
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
      const body = plan.kind === 'multipart' ? { layout: plan.layout } : { range: plan.range ?? { start: 0, end: info.size - 1 } };
      if (opened.content) return sendFromMemory(res, opened.content, body);
      // The whole file through transforms that depend on it alone (gzip): made once per file
      // under the open file cache, then sent without reading the file again.
      if (plan.kind === 'body' && plan.status === 200 && this.files.keepsContent && ctx.reuseTransformedFile(fileIdentity(info))) return;
      const onError = (reason: string) => ctx.log.crit(`read of "${file}" failed (${reason})`);
      handedOver = true;
      return await sendFromFile(res, fh!, body, length, onError, describe);
    } finally {
      if (!handedOver) await fh?.close().catch(() => undefined);
    }
  }
}

/**
 * Whether a request asks for the whole file whatever its state: no Range, no If-Modified-Since,
 * If-None-Match, If-Match or If-Unmodified-Since (If-Range matters only beside a Range).
 */
function wantsWholeFile(req: IncomingMessage): boolean {
  const h = req.headers;
  return h.range === undefined && h['if-modified-since'] === undefined && h['if-none-match'] === undefined && h['if-match'] === undefined && h['if-unmodified-since'] === undefined;
}

/** Reports a variable that nginx would not know in `root`/`alias`, at load. */
function checkVariables(value: string, key: string, cx: ConfigContext): void {
  try {
    compilePathTemplate(value, undefined, cx.captureNames);
  } catch (err) {
    cx.error((err as Error).message, key);
  }
}

/** The `static` handler module: no keys of its own; what it serves by is read and compiled at load. */
const staticModule: HandlerModule<StaticOptions> = {
  configure(_raw, cx) {
    const loc = cx.location;
    const core = loc.confs.get(coreModule);
    if (core.alias !== null && loc.match.kind === 'named') {
      cx.error('"alias" cannot be used inside the named location', 'alias');
    }
    checkVariables(core.root, 'root', cx);
    if (core.alias !== null) checkVariables(core.alias, 'alias', cx);
    const paths = compileStaticPaths(core.root, core.alias, loc.match, (p) => cx.resolve(p), cx.captureNames);
    const gzip = loc.confs.get(gzipModule);
    const tuning = loc.confs.get(httpTuningModule);
    return {
      paths,
      files: core,
      index: loc.confs.get(indexModule).index,
      autoindex: loc.confs.get(autoindexModule).autoindex,
      types: core.types,
      defaultType: core.defaultType,
      etag: core.etag,
      ifModifiedSince: core.ifModifiedSince,
      gzipStatic: gzip.gzipStatic,
      gzipVary: gzip.gzipVary,
      gzipOk: compileGzipOk(gzip),
      captureNames: cx.captureNames,
      redirect: tuning,
      logNotFound: tuning.logNotFound,
    };
  },
  create(options: StaticOptions): Handler {
    return new StaticHandler(options, new FileAccess(fileAccessConf(options.files, options.captureNames)));
  },
};

export default staticModule;
