/** nginx's ngx_http_autoindex_module: `autoindex`, a listing for a directory without an index file. */
import { flag } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';

/** The autoindex module's conf of a block. */
export interface AutoindexConf {
  readonly autoindex: boolean;
}

export const autoindexModule: ConfModule<AutoindexConf> = {
  name: 'autoindex',
  directives: {
    autoindex: row(INHERITED, flag),
  },
  defaults: () => ({ autoindex: false }),
};
