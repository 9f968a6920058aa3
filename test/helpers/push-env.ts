/** Push channels in this process's memory, for handlers created outside a gateway process. */
import { Fanout } from '../../src/modules/push/fanout';
import { MemoryBackend } from '../../src/modules/push/memory-backend';
import type { Logger } from '../../src/types';

export function memoryPush(log: Logger): Fanout {
  return new Fanout(new MemoryBackend(), log);
}
