"""Run an Amazon States Language definition locally, its tasks handed to Python callables.

Test support for the cloud pipeline (deploy/aws/pipeline.asl.json): the test reads the states, their
order, their command overrides and their error handling from the definition itself and runs each job
step as a fresh container. Covers the subset the definition uses: Pass, Task, Choice (StringEquals,
IsPresent), Succeed, Fail; Parameters with `.$` paths (`$.a.b`, `$$.Execution.Name`) and the intrinsics
States.Format and States.JsonToString; ResultPath (null or `$.x`); Catch; TimeoutSeconds on tasks.
Retry is not replayed: locally a container that does not start is a failure to look at, not capacity.
"""

import json
import re
from dataclasses import dataclass, field


class TaskFailed(Exception):
    "A task's callable failed: `error` is the ASL error name, `cause` its text."

    def __init__(self, error: str, cause: str):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def get_path(data, path: str, context: dict):
    "Resolve `$.a.b` in `data` or `$$.a.b` in `context` (keys may contain '-')."
    root, rest = (context, path[2:]) if path.startswith("$$") else (data, path[1:])
    for part in filter(None, rest.split(".")):
        if not isinstance(root, dict) or part not in root:
            raise KeyError(f"{path}: no {part!r}")
        root = root[part]
    return root


def _split_args(text: str) -> list[str]:
    "Top-level, comma-separated arguments of an intrinsic call (quotes and parentheses respected)."
    args, depth, quoted, cur = [], 0, False, ""
    for i, ch in enumerate(text):
        if ch == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        if not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        if ch == "," and depth == 0 and not quoted:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [*args, cur.strip()] if cur.strip() else args


def evaluate(expr: str, data, context: dict):
    "A `.$` value: a path or an intrinsic function call."
    if expr.startswith("$"):
        return get_path(data, expr, context)
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1].replace("\\'", "'")
    m = re.fullmatch(r"(States\.\w+)\((.*)\)", expr, re.S)
    if not m:
        raise ValueError(f"unsupported expression {expr!r}")
    args = [evaluate(a, data, context) for a in _split_args(m[2])]
    if m[1] == "States.Format":
        template, values = args[0], iter(args[1:])
        return re.sub(r"\{\}", lambda _: str(next(values)), template)
    if m[1] == "States.JsonToString":
        return json.dumps(args[0], separators=(",", ":"))
    raise ValueError(f"unsupported intrinsic {m[1]}")


def resolve(template, data, context: dict):
    "Parameters with every `key.$` replaced by its evaluated value, recursively."
    if isinstance(template, list):
        return [resolve(v, data, context) for v in template]
    if not isinstance(template, dict):
        return template
    return {
        (k[:-2] if k.endswith(".$") else k): (evaluate(v, data, context) if k.endswith(".$") else resolve(v, data, context))
        for k, v in template.items()
    }


def put(data: dict, result_path: str | None, value) -> dict:
    "Apply a ResultPath: None discards the result, `$` replaces the input, `$.a.b` sets that key."
    if result_path is None:
        return data
    if result_path == "$":
        return value
    out = json.loads(json.dumps(data))
    node, parts = out, result_path[2:].split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def choose(state: dict, data, context: dict) -> str:
    "The Next of the first matching Choice rule, else Default."
    for rule in state["Choices"]:
        if "StringEquals" in rule and get_path(data, rule["Variable"], context) == rule["StringEquals"]:
            return rule["Next"]
        if "IsPresent" in rule:
            try:
                get_path(data, rule["Variable"], context)
                present = True
            except KeyError:
                present = False
            if present == rule["IsPresent"]:
                return rule["Next"]
    return state["Default"]


@dataclass
class Execution:
    "What a local run did: the states in order, the final status and output."

    name: str
    visited: list = field(default_factory=list)
    status: str = "RUNNING"
    output: dict | None = None
    error: str | None = None


def run(definition: dict, data: dict, tasks: dict, name: str = "local-run") -> Execution:
    """Run `definition` on input `data`. `tasks` maps a Task's Resource ARN to a callable
    (parameters: dict, timeout_seconds: int | None) -> result; it raises TaskFailed to fail the state."""
    context, ex, at = {"Execution": {"Name": name}}, Execution(name), definition["StartAt"]
    while True:
        state = definition["States"][at]
        ex.visited.append(at)
        kind = state["Type"]
        if kind == "Succeed":
            ex.status, ex.output = "SUCCEEDED", data
            return ex
        if kind == "Fail":
            ex.status, ex.error = "FAILED", state.get("Error")
            return ex
        if kind == "Choice":
            at = choose(state, data, context)
            continue
        if kind == "Pass":
            data = put(data, state.get("ResultPath", "$"), resolve(state.get("Parameters", data), data, context))
        elif kind == "Task":
            call = tasks.get(state["Resource"])
            if call is None:
                raise ValueError(f"{at}: no local handler for {state['Resource']}")
            try:
                result = call(resolve(state.get("Parameters", {}), data, context), state.get("TimeoutSeconds"))
            except TaskFailed as e:
                catch = next((c for c in state.get("Catch", []) if {"States.ALL", e.error} & set(c["ErrorEquals"])), None)
                if catch is None:
                    ex.status, ex.error = "FAILED", e.error
                    return ex
                data, at = put(data, catch.get("ResultPath", "$"), {"Error": e.error, "Cause": e.cause}), catch["Next"]
                continue
            data = put(data, state.get("ResultPath", "$"), result)
        else:
            raise ValueError(f"{at}: unsupported state type {kind}")
        at = state["Next"]
