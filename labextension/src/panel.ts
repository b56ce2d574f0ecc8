/**
 * The "Covalent" side panel: the user's dispatches, newest first, with their
 * status and progress, kept up to date from the events WebSocket.
 *
 * An event changes what the panel knows at once (a dispatch's status), or
 * marks the listing stale (a task's status changes the counts; a dispatch
 * the panel has not seen yet is new). Redraws, and the listing's refetch
 * when stale, happen at most every `REDRAW_INTERVAL_MS`.
 */
import { ServerConnection } from '@jupyterlab/services';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  ApiError,
  eventsUrl,
  IDispatchEvent,
  IDispatchSummary,
  listDispatches
} from './api';
import { EventConnection } from './events';
import { Throttle } from './throttle';

/** At most four redraws a second. */
export const REDRAW_INTERVAL_MS = 250;
/** How many dispatches the panel lists at first, and how many more "Show older" adds. */
export const PAGE_SIZE = 50;
const MAX_LISTED = 1000; // the API's largest page

const STATUS_LABELS: { [status: string]: string } = { NEW_OBJECT: 'pending' };
const FINISHED = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** What the panel does when a dispatch is chosen. */
export type OpenDispatch = (dispatch: IDispatchSummary) => void;

/** The side panel's widget. */
export class DispatchesPanel extends Widget {
  constructor(
    private readonly settings: ServerConnection.ISettings,
    private readonly open: OpenDispatch
  ) {
    super();
    this.addClass('cnb-lab-panel');
    const header = document.createElement('header');
    header.className = 'cnb-lab-header';
    const title = document.createElement('h2');
    title.textContent = 'Covalent';
    this._connection.className = 'cnb-lab-connection';
    header.append(title, this._connection);
    this._list.className = 'cnb-lab-list';
    this._list.setAttribute('role', 'list');
    this._message.className = 'cnb-lab-message';
    this._more.className = 'jp-mod-styled cnb-lab-more';
    this._more.textContent = 'Show older';
    this._more.hidden = true;
    this._more.onclick = () => {
      this._limit = Math.min(this._limit + PAGE_SIZE, MAX_LISTED);
      this._stale = true;
      this._throttle.request();
    };
    this.node.append(header, this._message, this._list, this._more);
    this.node.dataset.redraws = '0';
  }

  /** The dispatches shown, newest first. */
  get dispatches(): readonly IDispatchSummary[] {
    return this._dispatches;
  }

  dispose(): void {
    this._events.dispose();
    this._throttle.cancel();
    super.dispose();
  }

  /** Starts listing and following the dispatches the first time the panel is shown. */
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._started) {
      this._started = true;
      this._setConnection('connecting');
      this._events.connect();
      this._stale = true;
      this._throttle.request();
    }
  }

  private _onEvent(event: IDispatchEvent): void {
    const known = this._dispatches.find(d => d.id === event.dispatch_id);
    if (!known) {
      // a new dispatch, or a sub-dispatch (which the listing never shows: asked once)
      if (!this._unlisted.has(event.dispatch_id)) {
        this._stale = true;
      }
    } else if (event.type === 'dispatch' && event.status) {
      known.status = event.status;
      this._stale = true; // its final counts
    } else {
      this._stale = true; // a task's status: the counts changed
    }
    this._throttle.request();
  }

  private _onConnected(open: boolean): void {
    this._setConnection(open ? 'live' : 'reconnecting');
    if (open) {
      this._stale = true; // events may have been missed while closed
      this._throttle.request();
    }
  }

  /** The throttled step: fetch the listing if it is stale, then redraw. */
  private async _update(): Promise<void> {
    if (this._fetching) {
      this._again = true;
      return;
    }
    if (this._stale) {
      this._stale = false;
      this._fetching = true;
      try {
        const page = await listDispatches(this._limit, this.settings);
        this._dispatches = page.dispatches;
        this._hasMore = page.next !== null && this._limit < MAX_LISTED;
        this._error = '';
        this._forgetUnlisted();
      } catch (error) {
        this._error = describe(error);
      } finally {
        this._fetching = false;
      }
    }
    this._render();
    if (this._again) {
      this._again = false;
      this._throttle.request();
    }
  }

  /** Ids of events that the listing did not show after a refetch are sub-dispatches: not asked again. */
  private _forgetUnlisted(): void {
    const listed = new Set(this._dispatches.map(d => d.id));
    for (const id of this._pendingIds) {
      if (!listed.has(id)) {
        this._unlisted.add(id);
      }
    }
    this._pendingIds.clear();
    if (this._unlisted.size > 10000) {
      this._unlisted.clear();
    }
  }

  private _render(): void {
    this._message.textContent = this._error
      ? this._error
      : this._dispatches.length
        ? ''
        : 'No dispatches yet. Dispatch a workflow from a notebook (ct.dispatch or %%covalent) and it appears here.';
    this._message.classList.toggle('cnb-lab-error', !!this._error);
    const items = this._dispatches.map(d => this._item(d));
    this._list.replaceChildren(...items);
    this._more.hidden = !this._hasMore;
    this.node.dataset.redraws = String(Number(this.node.dataset.redraws) + 1);
  }

  private _item(dispatch: IDispatchSummary): HTMLElement {
    const item = document.createElement('li');
    item.className = 'cnb-lab-dispatch';
    item.dataset.dispatchId = dispatch.id;
    item.dataset.status = dispatch.status;
    item.tabIndex = 0;
    item.setAttribute('role', 'listitem');
    item.title = `${dispatch.name}\n${dispatch.id}\nOpen its page`;
    const status = span('cnb-lab-status', STATUS_LABELS[dispatch.status] ?? dispatch.status);
    status.dataset.status = dispatch.status;
    const name = span('cnb-lab-name', dispatch.name);
    const id = span('cnb-lab-id', dispatch.id.slice(0, 8));
    // the user's tasks, as the widget counts them; a server without task counts: every node
    const tasks = dispatch.task_progress;
    const counts = tasks ?? dispatch.progress;
    const done = counts.COMPLETED ?? 0;
    const failed = counts.FAILED ?? 0;
    const total = tasks ? sum(tasks) : (dispatch.node_count ?? sum(counts));
    const unit = tasks ? 'tasks' : 'nodes';
    const progress = span(
      'cnb-lab-progress',
      `${done}/${total} ${unit}${failed ? ` (${failed} failed)` : ''}`
    );
    progress.title = tasks
      ? 'tasks done, of all tasks (electrons and sublattices)'
      : 'nodes done, of all nodes (inputs and helper nodes included)';
    const when = span('cnb-lab-time', shortTime(dispatch.start_time ?? dispatch.created));
    const bar = document.createElement('div');
    bar.className = 'cnb-lab-bar';
    const fill = document.createElement('div');
    const ended = done + failed; // the bar: tasks that ended (red when the dispatch failed)
    fill.style.width = `${total ? Math.round((100 * ended) / total) : FINISHED.has(dispatch.status) ? 100 : 0}%`;
    bar.append(fill);
    const top = document.createElement('div');
    top.className = 'cnb-lab-row';
    top.append(status, name);
    const bottom = document.createElement('div');
    bottom.className = 'cnb-lab-row cnb-lab-details';
    bottom.append(id, progress, when);
    item.append(top, bottom, bar);
    item.onclick = () => this.open(dispatch);
    item.onkeydown = event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.open(dispatch);
      }
    };
    return item;
  }

  private _setConnection(state: 'connecting' | 'live' | 'reconnecting'): void {
    this._connection.dataset.state = state;
    this._connection.textContent = state;
    this._connection.title =
      state === 'live'
        ? 'Following your dispatches live'
        : 'The events connection is closed; trying again';
  }

  private readonly _list = document.createElement('ul');
  private readonly _message = document.createElement('p');
  private readonly _more = document.createElement('button');
  private readonly _connection = document.createElement('span');
  private readonly _throttle = new Throttle(() => void this._update(), REDRAW_INTERVAL_MS);
  private readonly _events = new EventConnection(() => eventsUrl(this.settings), {
    event: event => {
      if (!this._dispatches.some(d => d.id === event.dispatch_id)) {
        this._pendingIds.add(event.dispatch_id);
      }
      this._onEvent(event);
    },
    connected: open => this._onConnected(open)
  });
  private _dispatches: IDispatchSummary[] = [];
  private readonly _pendingIds = new Set<string>();
  private readonly _unlisted = new Set<string>();
  private _limit = PAGE_SIZE;
  private _hasMore = false;
  private _error = '';
  private _stale = false;
  private _fetching = false;
  private _again = false;
  private _started = false;
}

function span(className: string, text: string): HTMLSpanElement {
  const element = document.createElement('span');
  element.className = className;
  element.textContent = text;
  return element;
}

function sum(counts: { [status: string]: number }): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** A time of today as hh:mm, an older one as its date. */
function shortTime(seconds: number): string {
  const when = new Date(seconds * 1000);
  return when.toDateString() === new Date().toDateString()
    ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : when.toLocaleDateString();
}

function describe(error: unknown): string {
  if (error instanceof ApiError) {
    return error.status === 404
      ? 'This Jupyter server runs no covalent-nb dispatcher (its log says why).'
      : `The dispatcher answered ${error.status}: ${error.message}`;
  }
  return `The dispatcher could not be reached: ${error instanceof Error ? error.message : String(error)}`;
}
