/**
 * The child process a configuration check runs in (started by `check-process.ts`): it reads
 * one job from its parent, checks it exactly as `gateway -t` does, answers, and exits. A
 * handler's `configure` that hangs or a file that never ends hangs this process only.
 */
import { checkConfig } from '../config/check';
import { REGISTRY } from '../modules/registry';
import type { CheckJob, CheckReply } from './check-process';
import { masterView } from './master-conf';

process.once('message', (job: CheckJob) => {
  const result = checkConfig(job.file, job.prefix, REGISTRY);
  const reply: CheckReply = result.ok ? { ok: true, conf: masterView(result.conf), snapshot: result.sources.toSnapshot() } : { ok: false, reason: result.reason };
  process.send!(reply, () => process.exit(0));
});
