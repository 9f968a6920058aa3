/**
 * The parity suite's site model: one small site written once (servers with their listens,
 * names, directives and locations) and rendered twice, as the gateway's YAML and as an
 * nginx.conf. A directive's value is nginx's argument text (`"200 'hi $host'"`), which both
 * sides read the same way: nginx in its config, the gateway through its nginx-style splitting.
 */

/** Directives by name: one occurrence's argument text, or a list for a repeated directive. */
export type Directives = Readonly<Record<string, string | readonly string[]>>;

/**
 * One statement of the rewrite module, in the order written: `[directive, arguments]`
 * (`['rewrite', '^/a /b last']`, `['break', '']`) or an `if` block with its condition as written
 * inside the parentheses.
 */
export type Statement = readonly [string, string] | { readonly if: string; readonly then: readonly Statement[] };

/** One location: nginx's `location` argument (`/x`, `= /x`, `^~ /x`, `~ re`, `~* re`, `@name`). */
export interface LocationModel {
  readonly match: string;
  readonly directives?: Directives;
  /** Directives for nginx only (the Lua of `access_by_lua`), beside `gateway`'s for the gateway (its `access_by` script). */
  readonly nginx?: Directives;
  /** Directives for the gateway only. */
  readonly gateway?: Directives;
  /** Locations nested in this one. */
  readonly locations?: readonly LocationModel[];
  /** The rewrite module's statements, after the directives, in order. */
  readonly script?: readonly Statement[];
}

/** One virtual server. */
export interface ServerModel {
  /**
   * Its listens, each a port slot with nginx's parameters (`0`, `1 default_server`,
   * `[::1]:0`): the slot is replaced by the real port of each side. Default: slot 0.
   */
  readonly listen?: readonly string[];
  readonly serverName?: string;
  readonly directives?: Directives;
  /** The rewrite module's statements, after the directives, in order. */
  readonly script?: readonly Statement[];
  readonly locations: readonly LocationModel[];
}

/**
 * One `map SOURCE $VARIABLE { ... }` block: each line a key (nginx's first word, as written:
 * `''`, `~^/a`) and the rest (`close`, `"<$a>"`, or '' for `hostnames;`). `@prefix@` in a line
 * stands for the shared prefix (an included file's path); `nginx` and `gateway` lines are one
 * side's only (`include` of a file in each side's syntax).
 */
export interface MapModel {
  readonly source: string;
  readonly variable: string;
  readonly lines: readonly (readonly [key: string, rest: string])[];
  readonly nginx?: readonly (readonly [key: string, rest: string])[];
  readonly gateway?: readonly (readonly [key: string, rest: string])[];
}

/** A whole site: `http`-level directives and the servers. */
export interface SiteModel {
  /** Lines of nginx's main context (`load_module ...;`): what nginx needs that the gateway has built in. */
  readonly nginxMain?: readonly string[];
  readonly http?: Directives;
  /** `map` blocks of the http level, in order. */
  readonly maps?: readonly MapModel[];
  readonly servers: readonly ServerModel[];
}

/** The paths a rendering needs: the shared site directory and the shared MIME types file. */
export interface RenderPaths {
  /** The prefix both servers run with (`-p`): relative `root`/`alias` resolve against it. */
  readonly prefix: string;
  /** An nginx-format types file, read by both. */
  readonly mimeTypes: string;
}

/** The MIME types both servers use, in nginx's format. */
export const MIME_TYPES = `types {
    text/html                 html htm;
    text/css                  css;
    text/plain                txt;
    application/javascript    js;
    application/json          json;
    image/png                 png;
    image/svg+xml             svg;
    application/pdf           pdf;
}
`;

/** The default type both servers use. */
export const DEFAULT_TYPE = 'application/octet-stream';

/** A location, written compactly in case tables. */
export function loc(match: string, directives: Directives = {}): LocationModel {
  return { match, directives };
}

/** One listen entry: its port slot, its IPv6 loopback address if any, and its parameters. */
interface ParsedListen {
  readonly slot: number;
  readonly ipv6: boolean;
  readonly params: string;
}

function parseListen(text: string): ParsedListen {
  const m = /^(\[::1\]:)?(\d+)((?:\s+\S+)*)$/.exec(text.trim());
  if (!m) throw new Error(`parity site: bad listen "${text}" (a port slot with parameters)`);
  return { slot: Number(m[2]), ipv6: m[1] !== undefined, params: m[3].trim() };
}

/** The listens of a server, defaulting to slot 0. */
export function listensOf(server: ServerModel): ParsedListen[] {
  return (server.listen ?? ['0']).map(parseListen);
}

/** Every port slot the site uses, with whether it is on IPv6 loopback. */
export function slotsOf(site: SiteModel): Map<number, boolean> {
  const slots = new Map<number, boolean>();
  for (const server of site.servers) for (const l of listensOf(server)) slots.set(l.slot, l.ipv6);
  return slots;
}

/** `127.0.0.1:PORT` or `[::1]:PORT`, with the parameters. */
function listenText(l: ParsedListen, ports: readonly number[]): string {
  const port = ports[l.slot];
  if (port === undefined) throw new Error(`parity site: no port for slot ${l.slot}`);
  const address = l.ipv6 ? `[::1]:${port}` : `127.0.0.1:${port}`;
  return l.params ? `${address} ${l.params}` : address;
}

const occurrencesOf = (value: string | readonly string[]): readonly string[] => (typeof value === 'string' ? [value] : value);

// ---------------------------------------------------------------- nginx.conf

/** nginx quotes a location argument holding `{`, `;` or white space. */
function nginxMatch(match: string): string {
  const [modifier, ...rest] = match.split(/\s+/);
  const quote = (arg: string) => (/[{};\s]/.test(arg) ? `"${arg.replace(/["\\]/g, (c) => `\\${c}`)}"` : arg);
  return rest.length ? `${modifier} ${quote(rest.join(' '))}` : quote(modifier);
}

function nginxDirectives(directives: Directives | undefined, indent: string): string {
  let out = '';
  for (const [name, value] of Object.entries(directives ?? {})) {
    for (const args of occurrencesOf(value)) out += `${indent}${name} ${args};\n`;
  }
  return out;
}

function nginxLocations(locations: readonly LocationModel[], indent: string): string {
  let out = '';
  for (const location of locations) {
    out += `${indent}location ${nginxMatch(location.match)} {\n`;
    out += nginxDirectives(location.directives, `${indent}    `);
    out += nginxDirectives(location.nginx, `${indent}    `);
    out += nginxScript(location.script, `${indent}    `);
    out += nginxLocations(location.locations ?? [], `${indent}    `);
    out += `${indent}}\n`;
  }
  return out;
}

function nginxScript(statements: readonly Statement[] | undefined, indent: string): string {
  let out = '';
  for (const s of statements ?? []) {
    if ('if' in s) out += `${indent}if (${s.if}) {\n${nginxScript(s.then, `${indent}    `)}${indent}}\n`;
    else out += `${indent}${s[0]}${s[1] ? ` ${s[1]}` : ''};\n`;
  }
  return out;
}

/**
 * The site as an nginx.conf for `nginx -p <prefix> -c <file> -e stderr`: in the foreground,
 * one process, no access log, temp paths and pid under the prefix, on loopback `ports`.
 */
export function renderNginx(site: SiteModel, paths: RenderPaths, ports: readonly number[]): string {
  const temp = (name: string) => `${paths.prefix}/nginx-temp/${name}`;
  let out =
    'daemon off;\nmaster_process off;\nerror_log stderr;\n' +
    (site.nginxMain ?? []).map((line) => `${line}\n`).join('') +
    `pid ${paths.prefix}/nginx.pid;\nevents {}\nhttp {\n` +
    `    include ${paths.mimeTypes};\n    default_type ${DEFAULT_TYPE};\n    access_log off;\n` +
    ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${temp(t)};\n`).join('') +
    nginxDirectives(site.http, '    ');
  for (const map of site.maps ?? []) {
    out += `    map ${map.source} ${map.variable} {\n`;
    for (const [key, rest] of [...map.lines, ...(map.nginx ?? [])]) out += `        ${key}${rest ? ` ${rest}` : ''};\n`.replaceAll('@prefix@', paths.prefix);
    out += '    }\n';
  }
  for (const server of site.servers) {
    out += '    server {\n';
    for (const l of listensOf(server)) out += `        listen ${listenText(l, ports)};\n`;
    if (server.serverName !== undefined) out += `        server_name ${server.serverName};\n`;
    out += nginxDirectives(server.directives, '        ');
    out += nginxScript(server.script, '        ');
    out += nginxLocations(server.locations, '        ');
    out += '    }\n';
  }
  return `${out}}\n`;
}

// ---------------------------------------------------------------- the gateway's YAML

/** A YAML scalar: JSON's double-quoted string is valid YAML. */
const scalar = (text: string) => JSON.stringify(text);

function yamlDirectives(directives: Directives | undefined, indent: string): string {
  let out = '';
  for (const [name, value] of Object.entries(directives ?? {})) {
    if (typeof value === 'string') out += `${indent}${name}: ${scalar(value)}\n`;
    else out += `${indent}${name}: [${value.map(scalar).join(', ')}]\n`;
  }
  return out;
}

function yamlLocations(locations: readonly LocationModel[], indent: string): string {
  let out = '';
  for (const location of locations) {
    out += `${indent}- location: ${scalar(location.match)}\n`;
    out += yamlDirectives(location.directives, `${indent}  `);
    out += yamlDirectives(location.gateway, `${indent}  `);
    out += yamlScript(location.script, `${indent}  `);
    if (location.locations?.length) out += `${indent}  locations:\n${yamlLocations(location.locations, `${indent}    `)}`;
  }
  return out;
}

/** `map` blocks as the gateway's YAML: `map: [{source, variable, ...lines}]`, each line's key and rest as written. */
function yamlMaps(maps: readonly MapModel[], prefix: string): string {
  if (maps.length === 0) return '';
  let out = '  map:\n';
  for (const map of maps) {
    out += `    - source: ${scalar(map.source)}\n      variable: ${scalar(map.variable)}\n`;
    for (const [key, rest] of [...map.lines, ...(map.gateway ?? [])]) out += `      ${scalar(key)}: ${scalar(rest.replaceAll('@prefix@', prefix))}\n`;
  }
  return out;
}

/**
 * The statements as YAML, in the order written: a run of one directive as a list (its
 * occurrences in order), an `if` as a map with its `condition`; a directive repeated further
 * apart as a repeated key.
 */
function yamlScript(statements: readonly Statement[] | undefined, indent: string): string {
  const keyOf = (s: Statement) => ('if' in s ? 'if' : s[0]);
  const item = (s: Statement, inner: string) => ('if' in s ? `condition: ${scalar(s.if)}\n${yamlScript(s.then, inner)}` : `${scalar(s[1])}\n`);
  let out = '';
  const list = [...(statements ?? [])];
  for (let i = 0; i < list.length; ) {
    let j = i + 1;
    while (j < list.length && keyOf(list[j]) === keyOf(list[i])) j++;
    const run = list.slice(i, j);
    if (run.length === 1) out += 'if' in run[0] ? `${indent}if:\n${indent}  ${item(run[0], `${indent}  `)}` : `${indent}${keyOf(run[0])}: ${item(run[0], '')}`;
    else out += `${indent}${keyOf(run[0])}:\n` + run.map((s) => `${indent}  - ${item(s, `${indent}    `)}`).join('');
    i = j;
  }
  return out;
}

/**
 * The same site as the gateway's YAML: error log on stderr (where the test harness learns it
 * is listening), no pid file, the shared types file, the same listens and directives.
 */
export function renderGateway(site: SiteModel, paths: RenderPaths, ports: readonly number[]): string {
  let out =
    'error_log: stderr notice\npid: "off"\nhttp:\n' +
    `  types: ${scalar(paths.mimeTypes)}\n  default_type: ${DEFAULT_TYPE}\n  access_log: "off"\n` +
    yamlDirectives(site.http, '  ') +
    yamlMaps(site.maps ?? [], paths.prefix) +
    '  servers:\n';
  for (const server of site.servers) {
    out += `    - listen: [${listensOf(server).map((l) => scalar(listenText(l, ports))).join(', ')}]\n`;
    if (server.serverName !== undefined) out += `      server_name: ${scalar(server.serverName)}\n`;
    out += yamlDirectives(server.directives, '      ');
    out += yamlScript(server.script, '      ');
    out += server.locations.length ? '      locations:\n' : '      locations: []\n';
    out += yamlLocations(server.locations, '        ');
  }
  return out;
}
