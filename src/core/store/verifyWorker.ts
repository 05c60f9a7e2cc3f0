// A worker thread of verify(): checks one part of the entries table with the fast path (verify.ts)
// and leaves the result in shared memory for the thread that waits for it (scanParallel).
import { workerData } from 'node:worker_threads';
import { readOverlaid } from './pagefile';
import { ChainScanner, type WorkerJob } from './verify';

const job = workerData as WorkerJob;
const state = new Int32Array(job.shared, 0, 2);
const nums = new Float64Array(job.shared, 8, 2);
Atomics.store(state, 1, 1);
try {
  const blocks = new Map(job.pages.blocks);
  const scanner = new ChainScanner((out, start, end) => readOverlaid(job.pages.fd, job.pages.baseSize, blocks, out, start, end), job.pages.size, job.columns, job.root);
  const r = scanner.scan(job.start, job.prev, (id) => (nums[1] = id), job.end);
  nums[0] = r.verified;
  new Uint8Array(job.shared, 24, 32).set(Buffer.from(r.headHash, 'hex'));
  Atomics.store(state, 0, 1);
} catch {
  Atomics.store(state, 0, 2);
}
Atomics.notify(state, 0);
