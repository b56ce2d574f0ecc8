// What the pages call nodes (the widget's rules, covalent_nb/notebook/node_kinds.py, in short).

const COLLECTIONS = {":electron_list:": "list", ":electron_tuple:": "tuple", ":electron_set:": "set",
  ":electron_dict:": "dict"};
const OPERATORS = {add: "+", sub: "-", mul: "*", truediv: "/", floordiv: "//", mod: "%", pow: "**"};

/** The user's tasks: electrons and sublattices (only they count in progress). */
export function isUserTask(kind) {
  return kind === "electron" || kind === "sublattice";
}

/** What a node is called in tables: a task's name, a parameter's value, "list", "[…]", "+"... */
export function nodeLabel(node) {
  const name = String(node.name);
  switch (node.kind) {
    case "electron": return name;
    case "sublattice": return name.replace(/^:sublattice:/, "");
    case "parameter": return name.replace(/^:parameter:/, "");
    case "collection": return COLLECTIONS[name] || name.replace(/^:+|:+$/g, "");
    default:
      if (node.function_name === "getitem" || name.endsWith(".__getitem__")) return "[…]";
      if (node.function_name === "getattr" || name.endsWith(".__getattr__")) return ".…";
      return OPERATORS[node.function_name] || name.replace(/^:+|:+$/g, "");
  }
}

/** How a node is described beside its label. */
export function nodeRole(node) {
  return node.kind === "generated" ? "helper" : node.kind;
}
