/** The panel's icon: two atoms sharing a bond. */
import { LabIcon } from '@jupyterlab/ui-components';

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="6.5" cy="12" r="4.5"/>
    <circle cx="17.5" cy="12" r="4.5"/>
    <rect x="9" y="10.6" width="6" height="2.8" rx="1"/>
  </g>
</svg>`;

export const covalentIcon = new LabIcon({ name: 'covalent-nb:covalent', svgstr: SVG });
