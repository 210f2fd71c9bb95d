"""VS Code extension: its own unit tests under Node (no VS Code), packaging into a .vsix, and its
settings against the server's."""

import json
import zipfile

import msgspec

from client_helpers import CLIENTS, client_env, npm_ready, run, tool

HERE = CLIENTS / "vscode"


def test_vscode_unit_tests_pass():
    npm_ready(HERE)
    out = run([tool("npm"), "test"], HERE, client_env(), timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert "# fail 0" in log and "# pass" in log, log[-3000:]


def test_vscode_extension_packages_into_a_vsix(tmp_path):
    npm_ready(HERE)
    vsix = tmp_path / "dllm-complete.vsix"
    out = run([tool("npx"), "vsce", "package", "--skip-license", "--allow-missing-repository", "--out", str(vsix)],
              HERE, client_env(), timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    names = zipfile.ZipFile(vsix).namelist()
    assert "extension/package.json" in names and "extension/dist/extension.js" in names, names
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts")], names


def test_every_server_setting_is_a_vscode_setting_with_the_servers_default():
    from dllm_complete.lsp_server.config import DEFAULTS

    props = json.loads((HERE / "package.json").read_text())["contributes"]["configuration"]["properties"]
    server = msgspec.to_builtins(DEFAULTS)  # camelCase names, as the server reads them
    for name, default in server.items():
        if name == "arena":
            continue  # its own keys, checked below
        assert "default" in props.get(f"dllm.{name}", {}) and props[f"dllm.{name}"]["default"] == default, name
    for name, default in server["arena"].items():
        assert "default" in props.get(f"dllm.arena.{name}", {}) and props[f"dllm.arena.{name}"]["default"] == default, name
