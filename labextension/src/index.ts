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

import { covalentIcon } from './icon';
import { DispatchesPanel } from './panel';
import { DispatchTab, IDispatchTabArgs, openDispatchTab } from './dispatchTab';

/** The command that opens a dispatch's page: `{id, name?}`. */
export const OPEN_DISPATCH = 'covalent-nb:open-dispatch';
/** Links that a notebook output gives a dispatch's page (`data-dispatch-id` names it). */
const PAGE_LINK = 'a.cnb-ui-link[data-dispatch-id]';

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
        name: widget => widget.title.dataset.dispatchId
      });
    }

    // A page link in an output opens as a tab of Lab rather than a new browser tab.
    document.addEventListener(
      'click',
      event => {
        const link = (event.target as Element | null)?.closest?.(PAGE_LINK) as HTMLAnchorElement | null;
        if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
          return;
        }
        const dispatchId = link.dataset.dispatchId ?? '';
        event.preventDefault();
        void app.commands.execute(OPEN_DISPATCH, { id: dispatchId, name: link.dataset.dispatchName ?? '' });
      },
      true
    );
  }
};

export default plugin;
