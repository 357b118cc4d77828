#!/usr/bin/python3
"""Renders chat templates with Python's jinja2 in Hugging Face's settings (the reference for webtune's
renderer): an immutable sandboxed environment with trim_blocks, lstrip_blocks and the loopcontrols
extension; raise_exception raises a TemplateError; tojson is json.dumps without HTML escaping (with
indent, separators, sort_keys and ensure_ascii as keyword options); strftime_now formats the current time.

stdin: a JSON list of cases {"template", "messages", "tools"?, "add_generation_prompt"?, "vars"?}
stdout: a JSON list, per case {"text": rendered} or {"error": message}."""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    env = environment()
    cache = {}
    out = []
    for case in json.load(sys.stdin):
        src = case["template"]
        try:
            if src not in cache:
                cache[src] = env.from_string(src)
            text = cache[src].render(
                messages=case["messages"],
                tools=case.get("tools"),
                documents=None,
                add_generation_prompt=case.get("add_generation_prompt", False),
                **case.get("vars", {}),
            )
            out.append({"text": text})
        except Exception as e:  # a template's own raise_exception, or a render error
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
