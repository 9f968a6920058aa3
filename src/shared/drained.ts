/** Waiting for a response's socket to take more. */
import type { ServerResponse } from 'node:http';

/** Resolves when `res` can take more (`drain`) or is gone (`close`). */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
