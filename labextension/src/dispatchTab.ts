/**
 * A dispatch's page in a main-area tab (or, without a dispatch, the web UI's
 * home): the web UI's page in an iframe of the same origin, so Jupyter's
 * login cookies apply to it and its API calls.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IFrame, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';

import { dispatchPageUrl, uiUrl } from './api';
import { covalentIcon } from './icon';

/** What a dispatch tab shows: which dispatch (none: the web UI's home), and its name for the tab's title. */
export interface IDispatchTabArgs {
  id?: string;
  name?: string;
}

/** The tab's widget: the iframe with the dispatch's page. */
export type DispatchTab = MainAreaWidget<IFrame>;

/** The id of a dispatch's tab (one tab per dispatch), or of the home's. */
export function tabId(dispatchId?: string): string {
  return dispatchId ? `covalent-nb-dispatch-${dispatchId}` : 'covalent-nb-ui';
}

/** Show the dispatch's tab, opening it if it is not open yet. */
export function openDispatchTab(
  app: JupyterFrontEnd,
  tracker: WidgetTracker<DispatchTab>,
  settings: ServerConnection.ISettings,
  args: IDispatchTabArgs
): DispatchTab {
  const id = tabId(args.id);
  const open = tracker.find(widget => widget.id === id);
  if (open) {
    app.shell.activateById(id);
    return open;
  }
  const content = new IFrame({
    // the page is this server's own: it runs scripts and calls the API with the same cookies
    sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-downloads', 'allow-popups'],
    referrerPolicy: 'same-origin'
  });
  content.url = args.id ? dispatchPageUrl(args.id, settings) : uiUrl(settings);
  content.addClass('cnb-lab-page');
  const widget = new MainAreaWidget({ content });
  widget.id = id;
  widget.addClass('cnb-lab-dispatch-tab');
  const short = (args.id ?? '').slice(0, 8);
  widget.title.label = !args.id ? 'Covalent' : args.name ? `${args.name} · ${short}` : `dispatch ${short}`;
  widget.title.caption = args.id ? `Dispatch ${args.id}` : 'Covalent: your dispatches';
  widget.title.icon = covalentIcon;
  widget.title.closable = true;
  widget.title.dataset = { ...widget.title.dataset, dispatchId: args.id ?? '', dispatchName: args.name ?? '' };
  void tracker.add(widget);
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
  return widget;
}
