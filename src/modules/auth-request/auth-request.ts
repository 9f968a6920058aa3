/**
 * The auth_request module's handler in the access phase, as nginx's
 * ngx_http_auth_request_handler: a subrequest to the `auth_request` URI (through the server's
 * locations, in process: typically a `proxy_pass` to an authentication service) with the
 * request's headers and no body; its response body is dropped. Its `auth_request_set`
 * variables are set from the subrequest (`$upstream_http_*`, `$sent_http_*` read its response)
 * whatever its status; then a 2xx lets the client in (`'ok'`), a 401 refuses with the
 * subrequest's `WWW-Authenticate`, a 403 refuses, any other status is a 500 with nginx's line
 * "auth request unexpected status" (a client that left meanwhile is a 499). Under `satisfy any` the phase engine combines the refusal
 * with the other access modules'.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../errors';
import { requestLogContext } from '../../shared/log-context';
import type { LocationModule, PhaseHandler, RequestContext, SubrequestResult, SubrequestSpec, Template } from '../../types';
import { authRequestModule } from './module';

/** One `auth_request_set`, compiled. */
interface CompiledSet {
  readonly name: string;
  readonly value: Template;
}

export const authRequestPhase: LocationModule = {
  name: 'auth_request',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(authRequestModule);
    if (conf.authRequest === null) return [];
    const question = conf.authRequest.indexOf('?');
    // Made once: every request's subrequest asks the same.
    const spec: SubrequestSpec = question === -1 ? { uri: conf.authRequest } : { uri: conf.authRequest.slice(0, question), args: conf.authRequest.slice(question + 1) };
    const sets: CompiledSet[] = conf.authRequestSet.map(([name, value]) => ({ name, value: env.compile(value) }));
    return [
      {
        phase: 'access',
        name: `auth_request ${conf.authRequest}`,
        run: (req, _res, ctx) => ctx.subrequest(spec).then((result) => verdict(result, sets, req, ctx)),
      },
    ];
  },
};

/** What the subrequest's response says of the client. */
function verdict(result: SubrequestResult, sets: readonly CompiledSet[], req: IncomingMessage, ctx: RequestContext): 'ok' {
  for (const { name, value } of sets) ctx.setVariable(name, result.context.evaluate(value));
  const status = result.status;
  if (status >= 200 && status < 300) return 'ok';
  if (status === 403) throw new HttpError(403, 'GW_AUTH_REQUEST_FORBIDDEN');
  // The client went away while the subrequest ran: nothing to answer, nothing more to log.
  if (status === 499) throw new HttpError(499, 'GW_CLIENT_CLOSED');
  if (status === 401) {
    const challenge = result.headers['www-authenticate'];
    // nginx passes on the first WWW-Authenticate the auth service sent.
    const first = Array.isArray(challenge) ? challenge[0] : challenge;
    throw new HttpError(401, 'GW_AUTH_REQUEST_UNAUTHORIZED', undefined, first === undefined ? {} : { 'WWW-Authenticate': String(first) });
  }
  ctx.log.error(`auth request unexpected status: ${status} while sending to client${requestLogContext(req, ctx)}`);
  throw new HttpError(500, 'GW_AUTH_REQUEST_STATUS');
}
