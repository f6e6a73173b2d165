"""Fail when any two modules of `vigil` import each other, directly or round a circle.

    python tools/import_cycles.py build/lint   # the link tree (tools/link_tree.py)

import-linter's layer contract keeps packages in order, but a circle inside one
package (a -> b -> a, through imports at module level or inside functions) passes
it. This reads the same import graph (grimp, import-linter's engine) and reports
every strongly connected group of modules.
"""

from __future__ import annotations

import sys


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def main(argv: list[str]) -> int:
    import grimp

    sys.path.insert(0, argv[1] if len(argv) > 1 else "build/lint")
    graph = grimp.build_graph("vigil")
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    found = cycles(edges)
    for group in found:
        print("import cycle: " + " <-> ".join(group))
    if not found:
        print(f"import cycles: none among {len(edges)} modules")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
