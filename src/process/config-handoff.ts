/**
 * How a worker gets the configuration its master checked: it asks over the cluster channel and
 * the master answers with the checked files (a `SourcesSnapshot`), which the worker builds its
 * configuration from instead of the disk. Not through the environment: one variable holds at
 * most 128 KiB on Linux (MAX_ARG_STRLEN), and a larger configuration would stop every fork
 * with E2BIG.
 */
import type { Worker } from 'node:cluster';
import { ConfigSources, type SourcesSnapshot } from '../config/sources';
import { sendToMaster, sendToWorker } from '../shared/ipc';

/** The worker's request and the master's answer. */
export type HandoffMessage = { readonly type: 'config-sources?' } | { readonly type: 'config-sources'; readonly snapshot: SourcesSnapshot };

/** Master side: answers `worker`'s request with `snapshot`, the files of its generation. */
export function handOffSources(worker: Worker, snapshot: SourcesSnapshot): void {
  const answer = (message: HandoffMessage) => {
    if (message?.type !== 'config-sources?') return;
    worker.off('message', answer);
    // A worker gone meanwhile needs no answer; its exit is handled where it was forked.
    sendToWorker(worker, { type: 'config-sources', snapshot } satisfies HandoffMessage).catch(() => {});
  };
  worker.on('message', answer);
}

/** Worker side: the checked files, from the master; rejects when the master cannot be asked. */
export function sourcesFromMaster(): Promise<ConfigSources> {
  return new Promise((resolve, reject) => {
    const receive = (message: HandoffMessage) => {
      if (message?.type !== 'config-sources') return;
      process.off('message', receive);
      resolve(new ConfigSources(message.snapshot));
    };
    process.on('message', receive);
    sendToMaster({ type: 'config-sources?' } satisfies HandoffMessage).catch((err: Error) => {
      process.off('message', receive);
      reject(err);
    });
  });
}
