/** nginx's ngx_http_index_module: `index`, the files a URI ending in `/` is served by. */
import { argsOf } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';

/** The index module's conf of a block. */
export interface IndexConf {
  readonly index: readonly string[];
}

export const indexModule: ConfModule<IndexConf> = {
  name: 'index',
  directives: {
    index: row(INHERITED, (n, cx) => argsOf(n, cx), { multiple: true }),
  },
  defaults: () => ({ index: ['index.html'] }),
};
