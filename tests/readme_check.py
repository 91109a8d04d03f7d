"""Runs every code snippet of README.md, so the README cannot rot (scripts/readme-check.sh sets the stage).

Each fenced block is run by its language: ``sh`` with bash (``potok`` on PATH), ``js`` as an ES module with
node (the package ``potok`` resolving to bindings-node) and type-checked by ``tsc --strict`` as TypeScript,
``python`` with the test venv's interpreter (the potok wheel installed), ``java`` compiled and run against
Kafka's client jars, ``c`` compiled against librdkafka and run; a ``properties`` block (a config file shown)
must hold only comments and ``key=value`` lines. ``localhost:9092`` and ``127.0.0.1:9092`` become the test
broker's address. A block marked ``fragment`` is part of a program tested elsewhere and is skipped. A block marked ``no-run`` (an install command, a broker that runs until Ctrl-C, the
test command itself) is syntax-checked instead: every ``potok`` subcommand and repository path it names must
exist. Every block must exit 0 within two minutes.

Usage: readme_check.py README.md (environment: POTOK_BIN, POTOK_BOOTSTRAP, KAFKA_CLASSPATH, NODE_PACKAGE, REPO)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_S = 120


def blocks(text: str):
    """(line number, language, flags, code) of each fenced block."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S+)(.*)$", lines[i])
        if not m:
            i += 1
            continue
        start, language, flags = i + 1, m.group(1), m.group(2).split()
        body = []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        yield start, language, flags, "\n".join(body) + "\n"
        i += 1


def run(cmd, cwd, env=None, what=""):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        # Only a failure's stderr: a passing snippet's logs (librdkafka's disconnects after a broker stops) would
        # bury real failures in the test log.
        sys.stdout.write(result.stderr)
        raise SystemExit(f"readme-check: {what} failed (exit {result.returncode})")


def check_no_run(code: str, line: int, env: dict) -> None:
    run(["bash", "-n", "-c", code], cwd=REPO, what=f"bash -n of the block at line {line}")
    for sub in re.findall(r"\bpotok ([a-z][a-z-]+)", code):
        run([env["POTOK_BIN"], sub, "--help"], cwd=REPO, env=env, what=f"`potok {sub}` (line {line})")
    for path in re.findall(r"(?:\s|^)((?:scripts|cli|config|bindings-[a-z]+)/[\w./-]*)", code):
        if not (REPO / path).exists():
            raise SystemExit(f"readme-check: the block at line {line} names {path}, which does not exist")


def main() -> None:
    readme = Path(sys.argv[1]).read_text()
    bootstrap = os.environ["POTOK_BOOTSTRAP"]
    work = Path(tempfile.mkdtemp(prefix="potok-readme-"))
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "potok").symlink_to(os.environ["POTOK_BIN"])
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    # A project that imports the Node package the way an application does after `npm install ./bindings-node`.
    node_package = Path(os.environ["NODE_PACKAGE"])
    (work / "node_modules").mkdir()
    (work / "node_modules" / "potok").symlink_to(node_package)
    tsc = node_package / "node_modules" / ".bin" / "tsc"
    counts = {}
    for n, (line, language, flags, code) in enumerate(blocks(readme)):
        code = code.replace("localhost:9092", bootstrap).replace("127.0.0.1:9092", bootstrap)
        print(f"== README.md line {line}: {language} {' '.join(flags)}", flush=True)
        if "fragment" in flags:
            # Part of a larger program (the Java package's own tests run the whole of it): shown, not run.
            language = f"{language} (a fragment, not run)"
        elif "no-run" in flags:
            check_no_run(code, line, env)
            language = f"{language} (checked, not run)"
        elif language == "sh":
            run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env, what=f"the sh block at line {line}")
        elif language == "js":
            script = work / f"snippet{n}.mjs"
            script.write_text(code)
            run(["node", str(script)], cwd=work, env=env, what=f"the js block at line {line}")
            typed = work / f"snippet{n}.mts"
            typed.write_text(code)
            config = {
                "compilerOptions": {
                    "strict": True,
                    "noEmit": True,
                    "module": "nodenext",
                    "moduleResolution": "nodenext",
                    "target": "es2022",
                    "lib": ["es2022", "esnext.disposable"],
                    "types": ["node"],
                    "typeRoots": [str(node_package / "node_modules" / "@types")],
                },
                "files": [typed.name],
            }
            (work / "tsconfig.json").write_text(json.dumps(config))
            run([str(tsc), "-p", "tsconfig.json"], cwd=work, env=env, what=f"tsc --strict of the js block at line {line}")
        elif language == "python":
            script = work / f"snippet{n}.py"
            script.write_text(code)
            run([sys.executable, str(script)], cwd=work, env=env, what=f"the python block at line {line}")
        elif language == "java":
            name = re.search(r"public class (\w+)", code).group(1)
            source = work / f"{name}.java"
            source.write_text(code)
            classpath = os.environ["KAFKA_CLASSPATH"]
            java_home = Path(os.environ["KAFKA_JAVA_HOME"])
            run([str(java_home / "bin" / "javac"), "-cp", classpath, "-d", str(work), str(source)], cwd=work, env=env,
                what=f"javac of the java block at line {line}")
            run([str(java_home / "bin" / "java"), "-cp", f"{classpath}:{work}",
                 "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", name], cwd=work, env=env,
                what=f"the java block at line {line}")
        elif language == "c":
            source = work / f"snippet{n}.c"
            source.write_text(code)
            run(["cc", "-Wall", "-Werror", "-Wno-unused-parameter", str(source), "-lrdkafka", "-o", str(work / f"snippet{n}")],
                cwd=work, env=env, what=f"cc of the c block at line {line}")
            run([str(work / f"snippet{n}")], cwd=work, env=env, what=f"the c block at line {line}")
        elif language == "properties":
            # A config file shown, not a program: every line is a comment or key=value (the broker's own parsing
            # of such files is tested in core).
            for i, text in enumerate(code.splitlines()):
                if text.strip() and not text.lstrip().startswith(("#", "!")) and "=" not in text:
                    raise SystemExit(f"readme-check: line {line + 1 + i} of the properties block is not key=value")
            language = f"{language} (checked, not run)"
        else:
            raise SystemExit(f"readme-check: no way to run the {language} block at line {line}")
        counts[language] = counts.get(language, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"readme-check: every README snippet passed ({summary})")


REPO = Path(os.environ["REPO"])

if __name__ == "__main__":
    main()
