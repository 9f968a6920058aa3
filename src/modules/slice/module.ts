/**
 * nginx's ngx_http_slice_filter_module directive: `slice SIZE` (http, server, location; 0, the
 * default, is off). The size is what each `$slice_range` asks the upstream for.
 */
import { size } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';

/** A block's slice setting. */
export interface SliceConf {
  /** `slice`: the bytes of one slice; 0 is off. */
  readonly slice: number;
}

export const sliceModule: ConfModule<SliceConf> = {
  name: 'slice',
  directives: {
    slice: row(INHERITED, size),
  },
  defaults: () => ({ slice: 0 }),
};
