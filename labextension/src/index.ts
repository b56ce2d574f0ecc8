/**
 * covalent-nb's JupyterLab extension: a "Covalent" side panel listing the
 * user's dispatches live; choosing one opens its page in a main-area tab.
 * Links to a dispatch's page in notebook outputs (`%covalent ui`, the
 * widget's header) open in such a tab too.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';

import { uiUrl } from './api';
import { covalentIcon } from './icon';
import { DispatchesPanel } from './panel';
import { DispatchTab, IDispatchTabArgs, openDispatchTab } from './dispatchTab';

/** The command that opens a dispatch's page, `{id, name?}`, or the web UI's home, `{}`. */
export const OPEN_DISPATCH = 'covalent-nb:open-dispatch';
/** Links to the web UI in notebook outputs (`data-ui-path`: the UI's path; `data-dispatch-id`: the dispatch). */
const UI_LINK = 'a.cnb-ui-link[data-ui-path]';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'covalent-nb:plugin',
  description: "covalent-nb's side panel: your dispatches, live, with their status and progress.",
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const settings = ServerConnection.makeSettings();
    const tracker = new WidgetTracker<DispatchTab>({ namespace: 'covalent-nb-dispatch' });

    app.commands.addCommand(OPEN_DISPATCH, {
      label: 'Open Dispatch Page',
      caption: "Open a dispatch's page in a tab",
      execute: args => openDispatchTab(app, tracker, settings, args as unknown as IDispatchTabArgs)
    });

    const panel = new DispatchesPanel(settings, dispatch =>
      void app.commands.execute(OPEN_DISPATCH, { id: dispatch.id, name: dispatch.name })
    );
    panel.id = 'covalent-nb-panel';
    panel.title.icon = covalentIcon;
    panel.title.caption = 'Covalent';
    app.shell.add(panel, 'left', { rank: 600 });

    if (restorer) {
      restorer.add(panel, 'covalent-nb-panel');
      void restorer.restore(tracker, {
        command: OPEN_DISPATCH,
        args: widget => ({ id: widget.title.dataset.dispatchId, name: widget.title.dataset.dispatchName }),
        name: widget => widget.id
      });
    }

    // A link to this server's web UI in an output opens as a tab of Lab, not a browser tab.
    const ownPath = new URL(uiUrl(settings), window.location.href).pathname;
    document.addEventListener(
      'click',
      event => {
        const link = (event.target as Element | null)?.closest?.(UI_LINK) as HTMLAnchorElement | null;
        if (!link || link.dataset.uiPath !== ownPath || event.button !== 0) {
          return;
        }
        if (event.ctrlKey || event.metaKey || event.shiftKey) {
          return; // the user asks for a browser tab or window
        }
        event.preventDefault();
        const { dispatchId, dispatchName } = link.dataset;
        void app.commands.execute(OPEN_DISPATCH, dispatchId ? { id: dispatchId, name: dispatchName ?? '' } : {});
      },
      true
    );
  }
};

export default plugin;
