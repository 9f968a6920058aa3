/**
 * An example plugin: Kong's correlation-id plugin (Kong/kong, kong/plugins/correlation-id,
 * handler.lua and schema.lua), ported to the gateway's plugins. Every request sent upstream
 * carries an id in a header (`header_name`); an id the client sent is kept as it is; with
 * `echo_downstream` the response carries it back to the client. Generators: `uuid` (a random
 * UUID per request) and `uuid#counter` (a UUID per worker, then `#` and a counter the worker
 * increments: cheaper, and it tells which worker served). Kong's third generator, `tracker`,
 * needs `$connection` and `$connection_requests`, which the gateway does not have yet.
 *
 *   plugins:
 *     correlation-id: { header_name: X-Request-ID, generator: uuid, echo_downstream: true }
 */
import { randomUUID } from 'node:crypto';
import { definePlugin } from 'gateway';

interface CorrelationOptions {
  readonly header_name: string;
  readonly generator: 'uuid' | 'uuid#counter';
  readonly echo_downstream: boolean;
}

// Kong makes these in init_worker; a plugin module is loaded once per worker, so here.
const workerUuid = randomUUID();
let workerCounter = 0;

const generators: Record<CorrelationOptions['generator'], () => string> = {
  uuid: () => randomUUID(),
  'uuid#counter': () => `${workerUuid}#${++workerCounter}`,
};

/** Where the id waits for the header filter (Kong's `kong.ctx.plugin`). */
const ID = Symbol('correlation-id');

export default definePlugin<CorrelationOptions>({
  name: 'correlation-id',
  priority: 1, // Kong's PRIORITY for this plugin in handler.lua
  schema: {
    type: 'object',
    properties: {
      header_name: { type: 'string', minLength: 1, pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', default: 'Kong-Request-ID' },
      generator: { enum: ['uuid', 'uuid#counter'], default: 'uuid#counter' },
      echo_downstream: { type: 'boolean', default: false },
    },
    additionalProperties: false,
  },
  configure: (o) => o as unknown as CorrelationOptions,
  phases: {
    access(r, o) {
      let id = r.header(o.header_name);
      if (id === undefined) {
        id = generators[o.generator]();
        r.setHeader(o.header_name, id);
      }
      if (o.echo_downstream) r.ctx[ID] = Array.isArray(id) ? id.join(', ') : id;
    },
    header_filter(r, o) {
      const id = r.ctx[ID];
      if (o.echo_downstream && typeof id === 'string') r.setResponseHeader(o.header_name, id);
    },
  },
});
