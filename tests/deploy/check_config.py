"""Checks Gatehouse config files as written, with the secrets they reference stood in for.

Usage: check_config.py --gatehouse BIN --agent BIN FILE.toml...
A control-plane config goes to `gatehouse config check`, an agent config (it has
`control_plane =`) to `gatehouse-agent --check`; each must pass. Where a file refers to
something only the deployment has, that is provided in a scratch folder, never by editing
what the file says otherwise:
  - `file:/ABS/PATH` secrets: a file with a random 64-hex value at SCRATCH/ABS/PATH;
  - `env:NAME` secrets: NAME set to such a value;
  - /etc/gatehouse/NAME (the config folder as mounted in the pod): the file's own folder.
"""

import argparse
import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile


def relocate(text, config_dir, scratch, env):
    def secret_file(m):
        target = pathlib.Path(scratch) / m.group(1).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(secrets.token_hex(32) + "\n")
        return f'"file:{target}"'

    def secret_env(m):
        env[m.group(1)] = secrets.token_hex(32)
        return m.group(0)

    text = re.sub(r'"file:(/[^"]+)"', secret_file, text)
    re.sub(r'"env:([A-Za-z_][A-Za-z0-9_]*)"', secret_env, text)
    return text.replace('"/etc/gatehouse/', f'"{config_dir}/')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gatehouse", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    failed = 0
    for name in args.files:
        path = pathlib.Path(name).resolve()
        with tempfile.TemporaryDirectory() as scratch:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
            text = relocate(path.read_text(), path.parent, scratch, env)
            checked = pathlib.Path(scratch) / path.name
            checked.write_text(text)
            if "control_plane =" in text:
                cmd = [args.agent, "--check", "--config", str(checked)]
            else:
                cmd = [args.gatehouse, "config", "check", "--config", str(checked)]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            out = (r.stdout + r.stderr).replace(str(checked), name).strip()
            if r.returncode != 0:
                failed += 1
                print(f"FAILED {name}: {out}")
            else:
                print(f"ok     {name}: {out.splitlines()[-1] if out else ''}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
