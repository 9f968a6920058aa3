/**
 * Configuration objects for the static handler's tests: a LocationConf and a ServerConf with
 * nginx's defaults (index.html, etag on, if_modified_since exact, a small types table), a
 * ConfigContext for `configure`, and a logger that keeps its lines.
 */
import path from 'node:path';
import { commonDefaults } from '../../src/config/directives';
import { parseLocation, splitArgs } from '../../src/config/values';
import { ConfigError } from '../../src/errors';
import type { CommonConf, ConfigContext, LocationConf, Logger, ServerConf } from '../../src/types';

/** The MIME types the tests rely on. */
export const TEST_TYPES: ReadonlyMap<string, string> = new Map([
  ['html', 'text/html'],
  ['htm', 'text/html'],
  ['css', 'text/css'],
  ['js', 'application/javascript'],
  ['txt', 'text/plain'],
  ['png', 'image/png'],
  ['jpg', 'image/jpeg'],
  ['json', 'application/json'],
]);

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** nginx's defaults for the inherited directives, with the test types and octet-stream. */
export function testCommon(): CommonConf {
  return {
    ...commonDefaults('/'),
    index: ['index.html'],
    etag: true,
    ifModifiedSince: 'exact',
    autoindex: false,
    types: TEST_TYPES,
    defaultType: 'application/octet-stream',
    accessLogs: [],
  };
}

/**
 * A `static` location: `location` is the argument as written (`/`, `= /x`, `~ ^/re/(.*)$`).
 * Other fields override the defaults.
 */
export function staticLocation(
  location: string,
  overrides: Partial<Writable<LocationConf>> = {},
): LocationConf {
  return {
    ...testCommon(),
    match: parseLocation(splitArgs(location)),
    name: location,
    handler: 'static',
    alias: null,
    tryFiles: null,
    proxyPass: null,
    return: null,
    handlerOptions: undefined,
    position: { file: 'test.yaml', line: 1, col: 1 },
    ...overrides,
  };
}

/** A server holding `locations`, listening nowhere in particular. */
export function staticServer(locations: readonly LocationConf[]): ServerConf {
  return {
    ...testCommon(),
    listens: [],
    serverNames: [{ kind: 'exact', name: 'localhost' }],
    primaryName: 'localhost',
    locations,
    serverLocation: staticLocation('/', { match: { kind: 'prefix', path: '', noRegex: false }, name: '' }),
    position: { file: 'test.yaml', line: 1, col: 1 },
  };
}

/** A ConfigContext for `configure(raw, cx)` on `location`; relative paths resolve against `prefix`. */
export function configContext(location: LocationConf, prefix = '/'): ConfigContext {
  const position = location.position;
  return {
    location,
    prefix,
    handlersDir: path.join(prefix, 'handlers'),
    captureNames: new Set(),
    error(reason: string): never {
      throw new ConfigError(reason, position);
    },
    time: () => undefined,
    size: () => undefined,
    flag: () => undefined,
    string: () => undefined,
    integer: () => undefined,
    resolve: (p: string) => path.resolve(prefix, p),
  };
}

/** A logger that keeps `level: message` lines. */
export function memoryLogger(lines: string[] = []): Logger & { readonly lines: string[] } {
  const at = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    notice: at('notice'),
    warn: at('warn'),
    error: at('error'),
    crit: at('crit'),
  };
}
