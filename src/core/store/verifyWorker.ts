// A worker thread of verify(): checks parts of the entries table with the fast path (verify.ts), its
// own part first and then whichever are free, and leaves each result on the shared Board for the
// thread that waits for it (scanParallel).
import { workerData } from 'node:worker_threads';
import { readOverlaid } from './pagefile';
import { Board, ChainScanner, type WorkerJob } from './verify';

const job = workerData as WorkerJob;
const board = new Board(job.shared, job.parts);
const blocks = new Map(job.pages.blocks);
const scanner = new ChainScanner((out, start, end) => readOverlaid(job.pages.fd, job.pages.baseSize, blocks, out, start, end), job.pages.size, job.columns, job.root);
try {
  if (board.take(job.own)) board.check(job.own, scanner);
  for (let i = board.takeNext(); i >= 0; i = board.takeNext()) board.check(i, scanner);
} catch {
  // check() marked the part Failed: the waiting thread checks it itself, and the free parts too.
}
