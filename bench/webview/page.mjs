// Runs inside the audit-log page (Chromium) before the page's own script, as an init script of
// bench/webview.mjs: stands in for VS Code's webview API and measures from inside the page.
// Plain browser JavaScript; every timestamp is performance.now(), relative to navigation start.
export function pageInit() {
  const now = () => performance.now();
  /** @type {unknown} */
  let saved;
  const B = (window.__bench = {
    /** Messages other than `rows`, both ways: { dir, type, seq, id, total, t }. */
    log: [],
    rowsIn: 0,
    rowsOut: 0,
    /** Most `.rows .row` elements seen in the DOM at once. */
    maxRows: 0,
  });

  // ---- the webview API (acquireVsCodeApi), over a CDP binding (Runtime.addBinding) to the host in Node
  const api = {
    postMessage(m) {
      if (m && m.type === 'rows') B.rowsOut++;
      else B.log.push({ dir: 'out', type: m?.type, seq: m?.seq, id: m?.id, query: m?.query, t: now() });
      window.__toHost(JSON.stringify(m));
    },
    getState: () => saved,
    setState: (s) => {
      saved = s;
    },
  };
  window.acquireVsCodeApi = () => api;
  // What the CSP refused, and where: the console line alone names neither the element nor the code.
  document.addEventListener('securitypolicyviolation', (e) => {
    const t = e.target instanceof Element ? e.target.outerHTML.slice(0, 160) : String(e.target?.nodeName ?? '');
    console.warn(`CSP refused ${e.effectiveDirective} at ${e.sourceFile || '?'}:${e.lineNumber}:${e.columnNumber} on ${t}`);
  });
  // Registered before the page's listener, so it sees each answer first.
  window.addEventListener(
    'message',
    (e) => {
      const d = e.data;
      if (!d || typeof d !== 'object') return;
      if (d.type === 'rows') B.rowsIn++;
      else B.log.push({ dir: 'in', type: d.type, seq: d.seq, id: d.id, total: d.total, counting: d.counting, t: now() });
    },
    true,
  );

  // ---- probes
  B.countRows = () => {
    const n = document.querySelectorAll('.rows .row').length;
    if (n > B.maxRows) B.maxRows = n;
    return n;
  };
  /** Resolves after the next frame is painted: rAF, then the first task after that frame. */
  B.afterPaint = () =>
    new Promise((res) =>
      requestAnimationFrame(() => {
        const tRaf = now();
        const ch = new MessageChannel();
        ch.port1.onmessage = () => res({ tRaf, tPaint: now() });
        ch.port2.postMessage(0);
      }),
    );
  /** Waits until `pred()` holds (checked on every DOM change), then until that is painted. */
  B.whenPainted = (pred, what = 'a condition', timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        mo.disconnect();
        clearTimeout(timer);
        const tDetect = now();
        B.afterPaint().then((p) => resolve({ tDetect, ...p }));
      };
      const mo = new MutationObserver(() => {
        B.countRows();
        if (!done && pred()) finish();
      });
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        mo.disconnect();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      if (pred()) finish();
      else mo.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['class', 'hidden', 'data-key'] });
    });

  const viewport = () => document.querySelector('.viewport');
  /** The table rows at least partly inside the viewport, top to bottom. */
  B.visibleRows = () => {
    const vp = viewport();
    if (!vp) return [];
    const r = vp.getBoundingClientRect();
    const bottom = r.top + vp.clientHeight;
    return [...document.querySelectorAll('.rows .row:not([hidden])')]
      .filter((row) => {
        const b = row.getBoundingClientRect();
        return b.bottom > r.top + 0.5 && b.top < bottom - 0.5;
      })
      .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
  };
  B.visibleLoaded = () => {
    const rows = B.visibleRows();
    return rows.length > 0 && rows.every((row) => !row.classList.contains('loading') && row.dataset.id);
  };
  /** The result generation of the rows in the DOM (rows carry data-key `${gen}:${index}:${id}`). */
  B.gen = () => {
    let g = -1;
    for (const row of document.querySelectorAll('.rows .row[data-key]')) g = Math.max(g, Number(row.dataset.key.split(':')[0]));
    return g;
  };
  const filled = (row) => !row.hidden && !row.classList.contains('loading') && !!row.dataset.id;
  /**
   * Filled and drawn: not under a hidden element, and the page's root (#app, which the page keeps
   * undisplayed until its first result) displayed. Asked of the root, not the row: a row's own
   * checkVisibility() in an undisplayed subtree computes styles that the frame does not reuse.
   */
  const shown = (row) => filled(row) && !row.parentElement?.closest('[hidden]') && document.getElementById('app')?.checkVisibility() === true;

  B.firstRows = B.whenPainted(() => [...document.querySelectorAll('.rows .row')].some(shown), 'the first rows');
  B.firstRows.catch(() => undefined);

  // ---- scrolling
  /**
   * Drives the viewport for up to `n` frames: frame i sets scrollTop to pos(i) (undefined: leave it).
   * Records the interval between frames (rAF timestamps). `stop()` is checked after each frame is
   * painted (layout is clean then, so checking costs the frame nothing); the run ends when it holds.
   * The frames' main-thread time comes from the Chromium trace the benchmark records meanwhile.
   */
  B.frames = (n, pos, stop) =>
    new Promise((resolve) => {
      const vp = viewport();
      // Row slots drawn, and how many of them were still placeholders (their page not yet answered).
      const out = { intervals: [], frames: 0, slots: 0, placeholders: 0 };
      let last;
      let i = 0;
      let stopped = false;
      const f = (ts) => {
        if (stopped) return resolve(out);
        if (last !== undefined) out.intervals.push(ts - last);
        last = ts;
        const p = pos(i);
        if (p !== undefined) vp.scrollTop = p;
        B.countRows();
        out.slots += vp.querySelectorAll('.rows .row:not([hidden])').length;
        out.placeholders += vp.querySelectorAll('.rows .row.loading:not([hidden])').length;
        i++;
        out.frames = i;
        if (i >= n) {
          stopped = true;
          setTimeout(() => resolve(out), 0);
          return;
        }
        requestAnimationFrame(f);
        if (stop) {
          const ch = new MessageChannel();
          ch.port1.onmessage = () => {
            if (!stopped && stop()) stopped = true;
          };
          ch.port2.postMessage(0);
        }
      };
      requestAnimationFrame(f);
    });

  B.scrollRun = async ({ wheelFrames, wheelStep, fastFrames, fastStep, sweepFrames, jumps, jumpTimeoutFrames }) => {
    const vp = viewport();
    vp.focus({ preventScroll: true });
    const max = () => vp.scrollHeight - vp.clientHeight;
    const res = { phases: {}, jumps: [] };
    vp.scrollTop = 0;
    await B.afterPaint();
    // A: a brisk wheel or trackpad scroll from the top, wheelStep px a frame.
    performance.mark('bench:wheel');
    res.phases.wheel = await B.frames(wheelFrames, (i) => Math.min(max(), (i + 1) * wheelStep));
    // B: fast, steady scrolling on from there, fastStep px a frame (dragging the scrollbar).
    const from = vp.scrollTop;
    performance.mark('bench:fast');
    res.phases.fast = await B.frames(fastFrames, (i) => Math.min(max(), from + (i + 1) * fastStep));
    // C: a sweep through the whole log, top to bottom.
    performance.mark('bench:sweep');
    res.phases.sweep = await B.frames(sweepFrames, (i) => Math.round(((i + 1) / sweepFrames) * max()));
    // D: jumps (fractions of the range); each waits until the rows in view are loaded and painted.
    performance.mark('bench:jumps');
    const jumpFrames = { intervals: [], frames: 0, slots: 0, placeholders: 0 };
    for (const frac of jumps) {
      const target = Math.round(frac * max());
      let t0 = 0;
      let tLoaded;
      const r = await B.frames(
        jumpTimeoutFrames,
        (i) => {
          if (i !== 0) return undefined;
          t0 = now();
          return target;
        },
        () => {
          if (!B.visibleLoaded()) return false;
          tLoaded = now();
          return true;
        },
      );
      jumpFrames.intervals.push(...r.intervals);
      jumpFrames.frames += r.frames;
      jumpFrames.slots += r.slots;
      jumpFrames.placeholders += r.placeholders;
      const rows = B.visibleRows();
      res.jumps.push({
        frac,
        loaded: B.visibleLoaded(),
        ms: tLoaded === undefined ? undefined : tLoaded - t0,
        frames: r.frames,
        firstId: Number(rows[0]?.dataset.id),
        lastId: Number(rows[rows.length - 1]?.dataset.id),
        lastIndex: Number(rows[rows.length - 1]?.dataset.index),
      });
    }
    performance.mark('bench:end');
    res.phases.jumps = jumpFrames;
    // Where the last jump left the view (the benchmark ends the list with a jump to the end).
    const rows = B.visibleRows();
    const last = rows[rows.length - 1];
    const r = vp.getBoundingClientRect();
    res.end = {
      scrollTop: vp.scrollTop,
      maxScroll: max(),
      lastId: Number(last?.dataset.id),
      lastIndex: Number(last?.dataset.index),
      lastLoading: !!last?.classList.contains('loading'),
      lastFullyVisible: !!last && last.getBoundingClientRect().bottom <= r.top + vp.clientHeight + 0.5,
      rowsInView: rows.length,
    };
    res.maxRows = B.maxRows;
    return res;
  };

  // ---- the wire alone: a message to the host in Node and its answer, with no work on either side
  B.ping = async (n) => {
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = now();
      await new Promise((resolve) => {
        const on = (e) => {
          if (e.data?.type !== '__pong') return;
          window.removeEventListener('message', on);
          resolve();
        };
        window.addEventListener('message', on);
        window.__toHost(JSON.stringify({ type: '__ping' }));
      });
      times.push(now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    return times;
  };

  // ---- a filter change: the query box, as a person types into it
  B.typeQuery = async (text) => {
    const g0 = B.gen();
    const box = document.querySelector('vscode-text-field.query');
    if (!box) throw new Error('no query box (vscode-text-field.query) in the page');
    const from = B.log.length;
    const tInput = now();
    box.value = text;
    box.dispatchEvent(new Event('input'));
    const p = await B.whenPainted(() => {
      if (B.gen() <= g0) return false;
      const rows = [...document.querySelectorAll('.rows .row')];
      const msg = document.querySelector('.message:not([hidden])');
      return rows.some((row) => filled(row) && Number(row.dataset.key.split(':')[0]) > g0) || !!msg;
    }, `the result of "${text}"`);
    const sent = B.log.slice(from).find((m) => m.dir === 'out' && m.type === 'query');
    const answer = sent && B.log.slice(from).find((m) => m.dir === 'in' && m.type === 'result' && m.seq === sent.seq);
    // A broad query's rows come first and its count after (a `total` message): wait for that too.
    let counted;
    for (const end = now() + 10_000; answer?.counting && !counted && now() < end; await new Promise((r) => setTimeout(r, 5))) {
      counted = B.log.slice(from).find((m) => m.dir === 'in' && m.type === 'total' && m.seq === sent.seq);
    }
    if (answer?.counting && !counted) throw new Error(`no count came for "${text}"`);
    return { query: text, tInput, tQuery: sent?.t, tResult: answer?.t, total: counted?.total ?? answer?.total, tTotal: counted?.t, ...p, rowsInView: B.visibleRows().length };
  };

  // ---- the diff of one entry: click its row, wait for the diff in the detail pane
  B.openDiff = async (index) => {
    const row = document.querySelector(`.rows .row[data-index="${index}"]`);
    if (!row || !row.dataset.id) throw new Error(`row ${index} is not in the table`);
    const id = Number(row.dataset.id);
    const old = document.querySelector('.detail .diff');
    const from = B.log.length;
    const tClick = now();
    row.click();
    const p = await B.whenPainted(() => {
      const d = document.querySelector('.detail .diff');
      return !!d && d !== old && d.isConnected;
    }, `the diff of entry ${id}`);
    const answer = B.log.slice(from).find((m) => m.dir === 'in' && m.type === 'detail' && m.id === id);
    const diff = document.querySelector('.detail .diff');
    return {
      id,
      tClick,
      tDetail: answer?.t,
      ...p,
      nodes: diff.querySelectorAll('*').length,
      changed: diff.querySelectorAll('.jsondiffpatch-modified, .jsondiffpatch-added, .jsondiffpatch-deleted, .jsondiffpatch-textdiff').length,
      text: diff.textContent.length,
    };
  };
}
