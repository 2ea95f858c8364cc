#!/usr/bin/env python3
"""The checked-in JSON Schema against real files (python3-jsonschema, Debian).

  schema_validate.py CNNRUN SOURCE_DIR

1. Every model the loader accepts in models/ and tests/ (gradcheck, pytorch,
   fuzz corpus) validates against docs/cnnrun-model.schema.json.
2. Every file of the bad-spec corpus (tests/specs/bad, tests/specs/bad_train)
   whose error the schema can see (an unknown key or type, a wrong type of
   value, a value out of range, a missing required key) is rejected by it.
   Errors only the loader can find (shapes, names, cycles, YAML syntax,
   limits that depend on the input) are counted, not required.

YAML is read as YAML 1.2's core schema, as cnnrun and yaml-language-server
read it (1e-5 is a number, `yes` is text), then validated as JSON data.
"""
import glob
import json
import os
import re
import subprocess
import sys

try:
    import jsonschema
    import yaml
except ImportError as missing:
    print(f"skipped: {missing.name} is not installed (apt-get install python3-jsonschema "
          "python3-yaml)")
    sys.exit(77)


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars instead of YAML 1.1's."""


CoreLoader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
     "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
    ("tag:yaml.org,2002:merge", r"^<<$", "<"),
]:
    CoreLoader.add_implicit_resolver(tag, re.compile(pattern), list(first))

# Errors the schema can express. Checked against each bad file's `# expect:`.
VISIBLE = re.compile(
    r"^(unknown key|unknown layer type|unknown activation|unknown optimizer|unknown schedule"
    r"|unknown data format|unknown data set|missing required key"
    r"|'[^']+' must be (a whole number|a number|a list|a finite number|true or false|≥|≤"
    r"|> 0|between|in \[0, 1\)|one number or a list|\[channels|a mapping|a name|at most)"
    r"|'[^']+' needs at least|'[^']+' is \d+, out of range|'layers' is empty"
    r"|'[^']+' cannot be a layer name|model format version|input (height|width|channels) must be"
    r"|a layer must be a mapping|the model must be a mapping|the train section must be a mapping"
    r"|'validation' must be)")
# ... except where the bound depends on the model or on float32.
HIDDEN = re.compile(r"the input's smaller side\), got [0-9]|got '\.inf'|must be a list of two"
                    r"|'data' must be a name or a mapping, got a list")


def load(path):
    with open(path, encoding="utf-8") as file:
        return yaml.load(file, Loader=CoreLoader)


def expectation(path):
    with open(path, encoding="utf-8") as file:
        first = file.readline()
    return first.split("# expect:", 1)[1].strip() if "# expect:" in first else ""


def main():
    cnnrun, source = sys.argv[1], sys.argv[2]
    with open(os.path.join(source, "docs/cnnrun-model.schema.json"), encoding="utf-8") as file:
        schema = json.load(file)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failures = 0

    good = sorted(glob.glob(os.path.join(source, "models/*.yaml")) +
                  glob.glob(os.path.join(source, "tests/gradcheck/*.yaml")) +
                  glob.glob(os.path.join(source, "tests/pytorch/*.yaml")) +
                  glob.glob(os.path.join(source, "tests/fuzz/corpus/*.yaml")))
    schema_line = "# yaml-language-server: $schema=../docs/cnnrun-model.schema.json\n"
    for path in sorted(glob.glob(os.path.join(source, "models/*.yaml"))):
        with open(path, encoding="utf-8") as file:
            if file.readline() != schema_line:
                print(f"FAIL {os.path.relpath(path, source)} does not start with {schema_line}")
                failures += 1
    valid = 0
    for path in good:
        status = subprocess.run([cnnrun, "check", path], capture_output=True).returncode
        if status != 0:
            continue  # the fuzz corpus holds bad files too
        valid += 1
        errors = list(validator.iter_errors(load(path)))
        for error in errors[:3]:
            print(f"FAIL {os.path.relpath(path, source)}: a valid model, but the schema says "
                  f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
        failures += bool(errors)
    print(f"{valid} valid models checked against the schema")
    if valid < 20:
        print(f"FAIL only {valid} valid models found")
        failures += 1

    visible = rejected = hidden = unreadable = 0
    for path in sorted(glob.glob(os.path.join(source, "tests/specs/bad*/*.yaml"))):
        expect = expectation(path)
        if not VISIBLE.search(expect) or HIDDEN.search(expect):
            hidden += 1
            continue
        with open(path, encoding="utf-8") as file:
            if re.search(r"(^|[\s\[{,])\*\w", file.read()):
                # Alias bombs and recursive aliases: the loader's limits, not
                # the schema's, and a validator would walk every expansion.
                hidden += 1
                continue
        try:
            data = load(path)
        except yaml.YAMLError:
            unreadable += 1
            continue
        if "bad_train" in path and isinstance(data, dict) and "layers" not in data:
            data["layers"] = [{"type": "flatten"}]  # train-only files
        visible += 1
        if validator.is_valid(data):
            print(f"FAIL {os.path.relpath(path, source)}: the schema accepts it, but the loader "
                  f"says: {expect}")
            failures += 1
        else:
            rejected += 1
    print(f"bad-spec corpus: the schema rejects {rejected} of the {visible} files whose error it "
          f"can see; {hidden} need the loader (shapes, names, model-dependent limits), "
          f"{unreadable} are not YAML that a parser accepts")
    if visible < 80:
        print(f"FAIL only {visible} bad files classified as visible to the schema")
        failures += 1
    print("ok" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
