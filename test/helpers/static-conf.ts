/**
 * Configuration objects for the static handler's tests: a LocationConf and a ServerConf with
 * nginx's defaults (index.html, etag on, if_modified_since exact, a small types table), a
 * ConfigContext for `configure`, and a logger that keeps its lines.
 */
import path from 'node:path';
import { parseLocation, splitArgs, type LocationMatch } from '../../src/config/values';
import { ConfigError, type Position } from '../../src/errors';
import { compileValue } from '../../src/http/variables';
import type { ConfigContext, LocationConf, Logger, ServerConf } from '../../src/types';
import { moduleConfs, type ConfOverrides } from './module-confs';

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

/** nginx's defaults with the test types and octet-stream, no access log, and `overrides`. */
export function testOverrides(overrides: ConfOverrides = {}): ConfOverrides {
  return { types: TEST_TYPES, defaultType: 'application/octet-stream', accessLogs: [], ...overrides };
}

/** What a test location may set: its structure, and any module's field. */
export type LocationOverrides = ConfOverrides & { match?: LocationMatch; name?: string; handler?: string; position?: Position };

/**
 * A `static` location: `location` is the argument as written (`/`, `= /x`, `~ ^/re/(.*)$`).
 * Other fields override the defaults.
 */
export function staticLocation(location: string, overrides: LocationOverrides = {}): LocationConf {
  const { match, name, handler, position, ...confs } = overrides;
  return {
    match: match ?? parseLocation(splitArgs(location)),
    name: name ?? location,
    handler: handler ?? 'static',
    handlerOptions: undefined,
    position: position ?? { file: 'test.yaml', line: 1, col: 1 },
    confs: moduleConfs(testOverrides(confs)),
    locations: [],
  };
}

/** A server holding `locations`, listening nowhere in particular. */
export function staticServer(locations: readonly LocationConf[]): ServerConf {
  return {
    listens: [],
    serverNames: [{ kind: 'exact', name: 'localhost' }],
    primaryName: 'localhost',
    locations,
    serverLocation: staticLocation('/', { match: { kind: 'prefix', path: '', noRegex: false }, name: '' }),
    position: { file: 'test.yaml', line: 1, col: 1 },
    confs: moduleConfs(testOverrides()),
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
    compile: (text: string) => compileValue(text),
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
