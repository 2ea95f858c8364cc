#!/usr/bin/env python3
"""The schema in the editor: yaml-language-server (npm), started as an editor
starts it (LSP over stdio), on model files with the schema line.

  lsp_schema.py SOURCE_DIR NPM_PREFIX

Checks that the server
  1. offers every layer type as a completion of `type:` inside a `layers:` item,
  2. reports an unknown key at its line,
  3. reports a string where a number belongs at its line,
  4. reports nothing for models/lenet5.yaml.
Exit 77 (skipped) with the reason when node or the npm package is absent
(in CI, CI=true, that is a failure instead):
`npm install --prefix build/npm yaml-language-server@1.15.0` installs it
(.ci/run does).
"""
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time

SCHEMA_LINE = "# yaml-language-server: $schema=../docs/cnnrun-model.schema.json\n"
TIMEOUT = 60.0


class Server:
    """A language server on stdio: Content-Length framed JSON-RPC."""

    def __init__(self, command, settings):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL)
        self.settings = settings
        self.messages = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message):
        message["jsonrpc"] = "2.0"
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)["result"]

    def _answer(self, message):
        """Requests from the server: settings as an editor would give them."""
        if message.get("method") == "workspace/configuration":
            items = message["params"]["items"]
            result = [self.settings.get(item.get("section"), None) for item in items]
        else:
            result = None
        self.send({"id": message["id"], "result": result})

    def wait(self, wanted, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if "method" in message and "id" in message:
                self._answer(message)
                continue
            if wanted(message):
                return message
        raise TimeoutError("no answer from yaml-language-server")

    def close(self):
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()


def diagnostics_for(server, uri, text, version):
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "yaml", "version": version, "text": text}})
    message = server.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and
                          m["params"]["uri"] == uri)
    return message["params"]["diagnostics"]


def skip(reason):
    if os.environ.get("CI") == "true":
        print(f"FAIL in CI: {reason}")
        return 1
    print(f"skipped: {reason}")
    return 77


def main():
    source, prefix = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    entry = os.path.join(prefix, "node_modules/yaml-language-server/bin/yaml-language-server")
    node = shutil.which("node")
    if not node:
        return skip("node is not installed (apt-get install nodejs npm)")
    if not os.path.exists(entry):
        return skip(f"yaml-language-server is not installed in {prefix} "
                    f"(npm install --prefix {prefix} yaml-language-server@1.15.0)")
    with open(os.path.join(source, "docs/cnnrun-model.schema.json"), encoding="utf-8") as file:
        schema = json.load(file)
    kinds = sorted(d["properties"]["type"]["const"] for name, d in schema["definitions"].items()
                   if name.startswith("layer-") and "const" in d["properties"]["type"])

    settings = {"yaml": {"validate": True, "completion": True, "hover": True,
                         "schemaStore": {"enable": False}, "format": {"enable": False}}}
    server = Server([node, entry, "--stdio"], settings)
    failures = 0
    try:
        root = "file://" + source
        server.request("initialize", {
            "processId": os.getpid(), "rootUri": root,
            "capabilities": {"textDocument": {
                "completion": {"completionItem": {"snippetSupport": False}},
                "publishDiagnostics": {}},
                "workspace": {"configuration": True}},
            "workspaceFolders": [{"uri": root, "name": "cnnrun"}]})
        server.notify("initialized", {})
        server.notify("workspace/didChangeConfiguration", {"settings": settings})

        # The files are not written: the server reads their text from the
        # messages and resolves the schema line against their URI.
        models = "file://" + os.path.join(source, "models")

        # 1. completion of a layer's type
        text = SCHEMA_LINE + "input: [1, 28, 28]\nlayers:\n  - type: \n"
        uri = models + "/lsp-completion.yaml"
        diagnostics_for(server, uri, text, 1)
        result = server.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 3, "character": 10}})
        items = result["items"] if isinstance(result, dict) else result
        offered = sorted({item["label"] for item in items})
        missing = [kind for kind in kinds if kind not in offered]
        if missing or not kinds:
            print(f"FAIL completion inside a layers item offers {offered}, missing {missing}")
            failures += 1
        else:
            print(f"ok   completion offers all {len(kinds)} layer types")

        # 2, 3. an unknown key (line 4) and a string for a number (line 6)
        text = (SCHEMA_LINE + "input: [1, 28, 28]\nlayers:\n"
                "  - {type: conv, filters: 6, kernel: 5, filterz: 3}\n"
                "  - type: dense\n"
                "    units: ten\n")
        found = diagnostics_for(server, models + "/lsp-errors.yaml", text, 1)
        for line, word, what in [(3, "filterz", "unknown key"), (5, "units", "string for a number")]:
            hits = [d for d in found if d["range"]["start"]["line"] == line]
            if hits:
                print(f"ok   {what} reported at line {line + 1}: {hits[0]['message']!r}")
            else:
                print(f"FAIL no diagnostic for the {what} ({word}) at line {line + 1}; got "
                      + "; ".join(f"{d['range']['start']['line'] + 1}: {d['message']}"
                                  for d in found))
                failures += 1

        # 4. a real model: no diagnostics
        with open(os.path.join(source, "models/lenet5.yaml"), encoding="utf-8") as file:
            found = diagnostics_for(server, models + "/lenet5.yaml", file.read(), 1)
        if found:
            print("FAIL models/lenet5.yaml gets diagnostics: "
                  + "; ".join(f"{d['range']['start']['line'] + 1}: {d['message']}" for d in found))
            failures += 1
        else:
            print("ok   models/lenet5.yaml: no diagnostics")
    except TimeoutError as error:
        print(f"FAIL {error}")
        failures += 1
    finally:
        server.close()
    print("ok" if not failures else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
