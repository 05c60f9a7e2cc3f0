// The first thing the audit-log page runs (main.ts imports it before anything else): it says
// `ready` and asks for the page's own view at once, so the host reads the first rows while the
// page's scripts and controls are still loading. Browser code only.
import { asPageState, type LogVariant, type PageState } from '../../src/panels/protocol';
import { vscodeApi } from '../vscodeApi';

export const defaultState = (variant: LogVariant): PageState => ({
  variant,
  query: '',
  order: variant.kind === 'history' ? 'asc' : 'desc',
  widths: {},
  hidden: [],
  utc: false,
  detailOpen: true,
  detailWidth: 420,
  showUnchanged: false,
});

const api = vscodeApi<PageState>();
/** The state a reload left, if any. */
export const saved = asPageState(api.getState());
/** What the page starts with: the saved state, or a fresh view of the whole log. */
export const initialState: PageState = saved ?? defaultState({ kind: 'log' });
/** The sequence number of the query sent here. */
export const FIRST_SEQ = 1;

api.postMessage({ type: 'ready' });
api.postMessage({ type: 'query', seq: FIRST_SEQ, query: initialState.query, order: initialState.order, select: initialState.selected });
