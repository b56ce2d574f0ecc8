/**
 * The dispatcher's API as the side panel uses it: the listing of the user's
 * dispatches, the events WebSocket and the URL of a dispatch's page.
 *
 * Everything hangs under `{base_url}covalent/` of this Jupyter server, behind
 * its login: `ServerConnection.makeRequest` sends Jupyter's cookies and XSRF
 * token, and the WebSocket carries the same cookies.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** Where the dispatcher's API lives, relative to the server's base URL. */
export const API_PATH = 'covalent/api/v1/';

/** Where the web UI's pages live, relative to the server's base URL. */
export const UI_PATH = 'covalent/ui/';

/** One dispatch of `GET dispatches`: its status and task counts by status. */
export interface IDispatchSummary {
  id: string;
  name: string;
  status: string;
  created: number;
  start_time: number | null;
  end_time: number | null;
  /** How many nodes the dispatch has (parameters and helper nodes included). */
  node_count: number | null;
  /** Node counts by status. */
  progress: { [status: string]: number };
  /** The user's tasks (electrons and sublattices) by status; older servers leave it out. */
  task_progress?: { [status: string]: number };
}

/** One page of `GET dispatches`, newest first; `next` is null on the last page. */
export interface IDispatchPage {
  dispatches: IDispatchSummary[];
  next: string | null;
}

/** A status event of `api/v1/events` (`type` is `dispatch`, `node` or `snapshot`). */
export interface IDispatchEvent {
  type: string;
  dispatch_id: string;
  status?: string;
  node_id?: number;
}

/** An answer of the API that is not a success, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

/** The newest `limit` of the user's top-level dispatches. */
export async function listDispatches(
  limit: number,
  settings: ServerConnection.ISettings
): Promise<IDispatchPage> {
  const url = `${URLExt.join(settings.baseUrl, API_PATH, 'dispatches')}?limit=${limit}`;
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const said = body && typeof body.error === 'string' ? body.error : response.statusText;
    throw new ApiError(response.status, said);
  }
  return body as IDispatchPage;
}

/** The URL of the events WebSocket (all of the user's dispatches). */
export function eventsUrl(settings: ServerConnection.ISettings): string {
  const url = URLExt.join(settings.wsUrl, API_PATH, 'events');
  // Same origin: the cookies authenticate. Another host: Jupyter's token does.
  return settings.appendToken && settings.token
    ? `${url}?token=${encodeURIComponent(settings.token)}`
    : url;
}

/** The web UI's home. */
export function uiUrl(settings: ServerConnection.ISettings): string {
  return URLExt.join(settings.baseUrl, UI_PATH);
}

/** The web UI's page of one dispatch. */
export function dispatchPageUrl(
  dispatchId: string,
  settings: ServerConnection.ISettings
): string {
  return `${uiUrl(settings)}#/dispatches/${encodeURIComponent(dispatchId)}`;
}
