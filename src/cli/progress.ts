// A progress bar on stderr for long work (export, verify), drawn only when stderr is a terminal.

export interface Progress {
  update(done: number, total: number): void;
  done(): void;
}

export function progressBar(stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }, label: string): Progress {
  if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
  let last = -1;
  return {
    update(done, total) {
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      if (pct === last) return;
      last = pct;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
      const filled = Math.round((pct / 100) * width);
      stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${total}`);
    },
    done() {
      if (last >= 0) stream.write('\n');
    },
  };
}
