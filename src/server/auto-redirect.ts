/**
 * nginx's auto_redirect (ngx_http_core_find_config_phase with NGX_DONE): a request for
 * `/app` where the location `/app/` proxies is answered 301 to `/app/`, its query string
 * kept, the Location made absolute as the location's `absolute_redirect` says.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors';
import { absoluteLocation } from '../http/redirect';
import { isPathByte, percentEncode } from '../modules/static/http';
import type { RequestState } from './request-state';
import type { LocationRuntime } from './runtime';

/** Throws the 301 to `location`'s name (escaped as nginx's escaped_name), with the request's args. */
export function autoRedirect(req: IncomingMessage, state: RequestState, location: LocationRuntime): never {
  const m = location.match;
  const name = m.kind === 'prefix' || m.kind === 'exact' ? m.path : '/';
  const path = `${percentEncode(name, isPathByte)}${state.args ? `?${state.args}` : ''}`;
  throw new HttpError(301, 'GW_AUTO_REDIRECT', undefined, { Location: location.autoRedirect ? absoluteLocation(path, location.autoRedirect, req, state) : path });
}
