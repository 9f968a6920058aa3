/** nginx's ngx_http_stub_status_module directive: `stub_status`, which makes a location the status page. */
import type { ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';

/** The status module's conf of a block. */
export interface StatusConf {
  /** `stub_status` in this location (its own: not inherited). */
  readonly stubStatus: boolean;
}

/**
 * `stub_status`: nginx's `stub_status;` (no argument, or the old `stub_status on;`), written
 * `stub_status: on` or `stub_status:` with no value.
 */
function stubStatus(node: ConfNode, cx: ParseContext): true {
  if (node.kind === 'scalar' && (node.value === null || node.value === true || node.value === 'on' || node.value === '')) return true;
  return cx.fail('invalid value in "stub_status" directive (it takes none, or "on")', node);
}

export const statusModule: ConfModule<StatusConf> = {
  name: 'status',
  directives: {
    stub_status: row(['location'], stubStatus, { inherit: false }),
  },
  defaults: () => ({ stubStatus: false }),
  implies: { stub_status: 'stub_status' },
};
