/**
 * auth_basic's handler in the access phase, as nginx's ngx_http_auth_basic_handler: nothing to
 * say (undefined) where auth_basic is off or has no file; `'ok'` for a user whose password
 * matches; otherwise 401 with `WWW-Authenticate: Basic realm="..."` and nginx's log line (no
 * credentials at info, an unknown user or a wrong password at error), or the file's failure
 * (403 for a missing file, 500 for an unreadable one). It follows the access-phase contract of
 * `satisfy`: only the 'ok' lets a client in.
 */
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../errors';
import { basicCredentials } from '../../http/basic-credentials';
import type { LocationModule, PhaseHandler, PhaseOutcome, RequestContext } from '../../types';
import { authBasicModule, type UserFileConf } from './module';
import { isExpensive, schemeOf, verifyPassword } from './passwords';
import { UserFiles, type UserFileFailure, type UserFileSnapshot } from './user-file';

/** The password files of this worker. */
const userFiles = new UserFiles();

/** What nginx appends to a request's error line. */
function requestSuffix(req: IncomingMessage, ctx: RequestContext): string {
  const host = req.headers.host;
  return (
    `, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, ` +
    `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`
  );
}

/**
 * A header value Node can send: nginx writes the realm's bytes as they are, CR and LF (from a
 * variable) included, which are left out here, and so are characters past U+00FF (Node refuses
 * them in a header; up to U+00FF it writes them as UTF-8, the bytes nginx sends).
 */
// eslint-disable-next-line no-control-regex
const headerSafe = (text: string) => text.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');

/**
 * The user as the error log shows it: control characters, bytes past ASCII, `"` and `\` as
 * `\xHH` (nginx writes them raw, so a user name with a line feed forges a log line).
 */
// eslint-disable-next-line no-control-regex
const logged = (user: string) => user.replace(/[\x00-\x1f\x7f-\xff"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

function unauthorized(realm: string): HttpError {
  return new HttpError(401, 'GW_AUTH_REQUIRED', 'authorization required', { 'WWW-Authenticate': `Basic realm="${headerSafe(realm)}"` });
}

function fileOf(conf: UserFileConf, ctx: RequestContext): string {
  return conf.constantPath ?? path.resolve(conf.base, ctx.evaluate(conf.template));
}

export const authBasicPhase: LocationModule = {
  name: 'auth_basic',
  phases(location): PhaseHandler[] {
    const conf = location.confs.get(authBasicModule);
    const realmTemplate = conf.authBasic;
    const fileConf = conf.authBasicUserFile;
    if (realmTemplate === null || fileConf === null || realmTemplate.constant === 'off') return [];
    if (fileConf.loaded && fileConf.constantPath) userFiles.seed(fileConf.constantPath, fileConf.loaded);

    /** Checks the user's password once the file's version is known. */
    const check = (req: IncomingMessage, ctx: RequestContext, realm: string, file: string, user: string, password: string, found: UserFileSnapshot | UserFileFailure): PhaseOutcome | Promise<PhaseOutcome> => {
      if (!('users' in found)) {
        ctx.log[found.level](found.message + requestSuffix(req, ctx));
        throw new HttpError(found.status, found.status === 403 ? 'GW_AUTH_FILE_MISSING' : 'GW_AUTH_FILE_UNREADABLE');
      }
      const hash = found.users.get(user);
      if (hash === undefined) {
        ctx.log.error(`user "${logged(user)}" was not found in "${file}"${requestSuffix(req, ctx)}`);
        throw unauthorized(realm);
      }
      const expensive = isExpensive(schemeOf(hash));
      const key = expensive ? userFiles.verifiedKey(user, password, hash) : '';
      if (expensive && userFiles.wasVerified(found, key)) return 'ok';
      const decide = (matches: boolean): PhaseOutcome => {
        if (matches) {
          if (expensive) userFiles.markVerified(found, key);
          return 'ok';
        }
        ctx.log.error(`user "${logged(user)}": password mismatch${requestSuffix(req, ctx)}`);
        throw unauthorized(realm);
      };
      const verdict = verifyPassword(password, hash);
      if (typeof verdict === 'boolean') return decide(verdict);
      return verdict.then(decide, (err: Error) => {
        ctx.log.crit(`crypt() failed: ${err.message}${requestSuffix(req, ctx)}`);
        throw new HttpError(500, 'GW_AUTH_CRYPT_FAILED');
      });
    };

    return [
      {
        phase: 'access',
        name: realmTemplate.constant === null ? 'auth_basic (realm with variables)' : `auth_basic "${realmTemplate.constant}"`,
        run(req, _res, ctx) {
          const realm = ctx.evaluate(realmTemplate);
          if (realm === 'off') return undefined;
          const credentials = basicCredentials(req.headers.authorization);
          if (!credentials) {
            ctx.log.info(`no user/password was provided for basic authentication${requestSuffix(req, ctx)}`);
            throw unauthorized(realm);
          }
          const file = fileOf(fileConf, ctx);
          const found = userFiles.get(file);
          const { user, password } = credentials;
          if (found instanceof Promise) return found.then((f) => check(req, ctx, realm, file, user, password, f));
          return check(req, ctx, realm, file, user, password, found);
        },
      },
    ];
  },
};
