"""The workflow model: electrons (tasks), lattices (workflows) and their transport graph.

``@electron`` and ``@lattice`` mark functions; a lattice's body, run once with
electron calls recorded, becomes a :class:`TransportGraph`;
:func:`build_manifest` turns it into what the client sends to the dispatcher.
"""

from covalent_nb.workflow.deps import DepsBash, DepsCall, DepsPip
from covalent_nb.workflow.electron import Electron, electron, wait
from covalent_nb.workflow.graph import TransportGraph
from covalent_nb.workflow.lattice import Lattice, lattice
from covalent_nb.workflow.manifest import build_manifest
from covalent_nb.workflow.proxy import NodeProxy

__all__ = [
    "DepsBash",
    "DepsCall",
    "DepsPip",
    "Electron",
    "Lattice",
    "NodeProxy",
    "TransportGraph",
    "build_manifest",
    "electron",
    "lattice",
    "wait",
]
