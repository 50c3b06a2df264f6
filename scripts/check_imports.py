#!/usr/bin/env python3
"""The import graph of src/, checked against the layering in ../shared/design.md.

Reads every `crate::<module>` path in src/**/*.rs (use lines and inline paths; `super::` stays
inside a module by definition), builds the graph between the top-level modules and fails on:
  1. a file outside src/service/ and src/ffi/ (and src/lib.rs) that names crate::service;
  2. a cycle among the top-level modules;
  3. src/store/ naming a domain module (or service / ffi);
  4. a dependency that points up the layer table below.
Prints the graph (`--dot` for Graphviz). Exit 1 on a violation.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# rank: a module may use modules of a strictly lower rank (or its own)
LAYERS = {
    "ffi": 9,
    "service": 8,
    "auth": 7, "sync": 7, "send": 7, "links": 7, "activity": 7, "mailbox": 7,
    "core": 6,
    "graph": 5, "store": 5,
    "telemetry": 4,
    "config": 3,
    "json": 2, "encoding": 2, "clock": 2, "files": 2, "runtime": 2,
    "error": 1,
    "status": 0,
}
DOMAIN = {"auth", "sync", "send", "links", "activity", "mailbox", "service", "ffi", "core"}
# domain modules may use one another only along these edges (same rank, still acyclic)
SIBLING_OK = {
    ("sync", "mailbox"), ("activity", "mailbox"), ("send", "mailbox"), ("links", "mailbox"),
    ("auth", "mailbox"), ("activity", "sync"), ("send", "links"), ("sync", "auth"),
    ("send", "auth"), ("activity", "auth"), ("links", "auth"),
}

PATH_RE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP_RE = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)


def module_of(rel):
    parts = rel.split(os.sep)
    head = parts[0]
    return head[:-3] if head.endswith(".rs") else head


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return "\n".join(re.sub(r"//.*$", "", line) for line in src.splitlines())


def edges(root=None):
    root = root or ROOT
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel == "lib.rs":
                continue
            src = strip_comments(open(path, encoding="utf-8").read())
            targets = set(PATH_RE.findall(src))
            for group in USE_GROUP_RE.findall(src):
                for item in re.split(r",(?![^{]*\})", group):
                    item = item.strip()
                    m = re.match(r"([a-z_][a-z0-9_]*)", item)
                    if m:
                        targets.add(m.group(1))
            found[rel] = targets
    return found


def find_cycle(graph):
    color, stack = {}, []

    def visit(n):
        color[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if color.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not color.get(m):
                c = visit(m)
                if c:
                    return c
        stack.pop()
        color[n] = 2
        return None

    for n in sorted(graph):
        if not color.get(n):
            c = visit(n)
            if c:
                return c
    return None


def self_test():
    """The checker must catch each kind of violation (so `make test` shows it can fail)."""
    import tempfile
    cases = {
        "sync/engine.rs": "use crate::service::Client;\n",
        "store/mod.rs": "use crate::activity::Candidate;\n",
        "error.rs": "pub use crate::ffi::O365_OK;\n",
    }
    for rel, line in cases.items():
        with tempfile.TemporaryDirectory() as d:
            for base in ("service/mod.rs", "ffi/mod.rs", "activity/mod.rs", "sync/engine.rs",
                         "store/mod.rs", "error.rs"):
                os.makedirs(os.path.dirname(os.path.join(d, base)) or d, exist_ok=True)
                open(os.path.join(d, base), "w").write("")
            open(os.path.join(d, rel), "w").write(line)
            if check(d, quiet=True) == 0:
                print(f"check_imports self-test: `{line.strip()}` in {rel} was not caught",
                      file=sys.stderr)
                return 1
    print(f"check_imports self-test: {len(cases)} planted violations caught")
    return 0


def main():
    if "--self-test" in sys.argv:
        if self_test():
            return 1
    return check(ROOT, dot="--dot" in sys.argv)


def check(root, dot=False, quiet=False):
    files = edges(root)
    graph, why, problems = {}, {}, []
    for rel, targets in sorted(files.items()):
        src_mod = module_of(rel)
        for t in sorted(targets):
            if t in ("self",) or t == src_mod:
                continue
            graph.setdefault(src_mod, set()).add(t)
            why.setdefault((src_mod, t), []).append(rel)
            if t == "service" and src_mod not in ("service", "ffi"):
                problems.append(f"{rel}: imports crate::service (only service/ and ffi/ may)")
            if src_mod == "store" and t in DOMAIN:
                problems.append(f"{rel}: the store imports the domain module `{t}`")
            a, b = LAYERS.get(src_mod), LAYERS.get(t)
            if a is None or b is None:
                problems.append(f"{rel}: module `{src_mod if a is None else t}` has no layer in scripts/check_imports.py")
            elif b > a or (b == a and (src_mod, t) not in SIBLING_OK):
                problems.append(f"{rel}: `{src_mod}` (layer {a}) uses `{t}` (layer {b}): points up or sideways")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("cycle: " + " -> ".join(cycle))
    n_edges = sum(len(v) for v in graph.values())
    if quiet:
        return 1 if problems else 0
    if dot:
        print("digraph o365 {")
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
    else:
        for a in sorted(graph, key=lambda m: (-LAYERS.get(m, 0), m)):
            print(f"{a:>9} -> {', '.join(sorted(graph[a], key=lambda m: (-LAYERS.get(m, 0), m)))}")
        print(f"{len(files)} files, {len(graph)} modules, {n_edges} module edges, "
              f"{'no cycle' if not cycle else 'a cycle'}")
    for p in sorted(set(problems)):
        print("VIOLATION " + p, file=sys.stderr)
    if problems:
        print(f"check_imports: {len(set(problems))} violation(s)", file=sys.stderr)
        return 1
    print("check_imports: the layering holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
