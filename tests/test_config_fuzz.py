"""Config that cannot hurt: hundreds of mutated configs, each ends in a clean load or a clean error.

The mutations start from the shipped example configs and go where hostile or broken files go: random bytes and
truncation, wrong types and non-finite or negative numbers at every key, huge strings and placeholders, deep
nesting, YAML alias bombs and self-references, non-UTF-8 encodings and special files (``/dev/zero``, a FIFO) as
key, CA and price files. The seed is fixed, so a failure is reproducible by its index. Each config is loaded
in-process under a 5 s alarm (a hang fails the test instead of hanging it); a few go through ``llmpulse
check-config`` to see the exit codes and the absence of tracebacks at the process level.
"""

from __future__ import annotations

import copy
import math
import os
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli

from exporter.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
SEED = 20261207
N_STRUCTURAL = 260
N_BYTES = 60
PER_CONFIG_SECONDS = 5.0

# The real-keys example names these variables; give them values so its configs get past the key checks.
EXAMPLE_ENV = {
    name: f"test-value-of-{name.lower()}-0123456789"
    for name in (
        "OPENAI_ADMIN_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_ADMIN_KEY",
        "ANTHROPIC_API_KEY",
        "DEEPSEEK_API_KEY",
        "MOONSHOT_API_KEY",
        "OPENROUTER_MANAGEMENT_KEY",
        "SILICONFLOW_API_KEY",
        "COZE_API_TOKEN",
        "LLMPULSE_EVENTS_TOKEN",
        "LANGFUSE_PUBLIC_KEY",
        "LANGFUSE_SECRET_KEY",
        "BOT_ANALYTICS_TOKEN",
    )
}

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "sources:\n  - {name: x, type: statuspage, base_url: 'http://127.0.0.1:1', components: *i}\n"
    "probes: []\n"
    "# the classic billion-laughs document, with a source that walks the expansion\n"
    "# (578 bytes, 9 ** 9 = 387,420,489 strings once expanded)\n"
)


def special_values(tmp: Path) -> list[Any]:
    """Values a mutation puts at a key: wrong types, non-finite and negative numbers, hostile strings and paths."""
    fifo = tmp / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    latin = tmp / "latin1.txt"
    latin.write_bytes("clé-secrète".encode("latin-1"))
    big = tmp / "big.txt"
    big.write_bytes(b"k" * (2 * 1024 * 1024))
    return [
        None,
        True,
        0,
        -1,
        -1e308,
        1e308,
        math.nan,
        math.inf,
        -math.inf,
        10**400,
        "",
        " ",
        "x" * 100_000,
        "${now-99999999999999d}",
        "${today-999999999h:unix_ms}",
        "${" * 2000,
        "/dev/zero",
        "/dev/null",
        "/proc/self/mem",
        str(fifo),
        str(latin),
        str(big),
        str(tmp),
        "pat_" + "a1" * 20,
        "0123456789abcdef" * 4,
        "\u202e\u0000\ud7ff",
        "bot-\U0001f600",
        "http://",
        "https://[::1",
        "99999999999999999999s",
        "1e3s",
        "-5m",
        [],
        [[[[[[]]]]]],
        {},
        {"nested": {"deeper": [1, 2, {"x": math.nan}]}},
        list(range(50)),
    ]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return root


def _delete(root: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return root
    node = root
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return root


def structural_mutation(rng: random.Random, base: Any, values: list[Any]) -> str:
    data = copy.deepcopy(base)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(data))
        path = rng.choice(paths)
        action = rng.random()
        if action < 0.6:
            data = _set(data, path, copy.deepcopy(rng.choice(values)))
        elif action < 0.75 and path:
            data = _delete(data, path)
        elif action < 0.9:
            target = data
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                target[rng.choice(["unknown_key", "api_key", "sk-proj-abcdefghijklmnop", "state_dir", "<<"])] = 1
            elif isinstance(target, list):
                target.append(copy.deepcopy(rng.choice(values)))
            else:
                data = _set(data, path, [target, target])
        else:
            wrapped = copy.deepcopy(rng.choice(values))
            for _ in range(rng.randint(1, 80)):
                wrapped = [wrapped]
            data = _set(data, path, wrapped)
    return yaml.safe_dump(data, allow_unicode=rng.random() < 0.5, sort_keys=False, width=rng.choice([40, 120, 10_000]))


def byte_mutation(rng: random.Random, text: bytes) -> bytes:
    data = bytearray(text)
    kind = rng.randrange(6)
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del data[rng.randrange(len(data)) :]
    elif kind == 2:  # insert YAML syntax
        pos = rng.randrange(len(data))
        data[pos:pos] = rng.choice([b"&x ", b"*x", b"*undefined", b"{[", b"]}", b"!!python/object:os.system ", b"\t"])
    elif kind == 3:  # another encoding
        codec = rng.choice(["latin-1", "utf-16", "utf-16-le", "utf-32", "cp1252"])
        data = bytearray(text.decode("utf-8").replace("demo", "démo").encode(codec, errors="replace"))
    elif kind == 4:  # a BOM and stray control bytes
        data = bytearray(b"\xef\xbb\xbf" + bytes(data).replace(b"\n", b"\n\x00", 1))
    else:  # duplicated block
        half = len(data) // 2
        data += data[:half]
    return bytes(data)


def special_documents() -> list[bytes]:
    return [
        ALIAS_BOMB.encode(),
        b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n",
        b"a: " + b"{x: " * 5000 + b"1" + b"}" * 5000 + b"\n",
        b"r: &r [*r]\n",
        b"m: &m {k: *m}\n",
        b"- just\n- a list\n",
        b"",
        b"\xff\xfe\x00s",
        b"sources: [" + b"{}," * 50_000 + b"]\n",
        b"exchange_rates: {CNY: .nan}\n",
        b"exchange_rates: {CNY: -0.14}\n",
        b"exchange_rates: {CNY: .inf}\n",
        b"pricing: {models: {m: {input: .nan, output: 1}}}\n",
        b"pricing: {models: {m: {input: -1, output: 1}}}\n",
        b"bundle: {budget: {monthly_budget_usd: .inf}}\n",
        b"? [a, b]\n: 1\n",
        b"? {a: 1}\n: 1\n",
        b"sources: !!binary aGVsbG8=\n",
        b"sources: !!python/object/apply:os.system ['true']\n",
        b"key: " + b"x" * (5 * 1024 * 1024) + b"\n",
        b"key: " + b"x " * (127 * 1024) + b"\n",  # just under the size cap: the slowest text to scan
        b"key: [" + b"1," * (127 * 1024) + b"]\n",  # just under the size cap: as many values as fit
    ]


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: float) -> Iterator[None]:
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(path: Path, load: Callable[[Path], Any]) -> str:
    """Load one config: 'ok' or 'error'; anything else (a traceback, a hang, a bad error) fails the test."""
    try:
        with alarm(PER_CONFIG_SECONDS):
            load(path)
    except ConfigError as err:
        assert err.problems, "a ConfigError without problems"
        for loc, msg in err.problems:
            assert msg.strip(), f"{path}: a problem without a reason (at {loc!r})"
            assert "Traceback" not in msg
        text = str(err)
        assert all(line.startswith(f"{path}: ") for line in text.splitlines()), text[:500]
        return "error"
    return "ok"


def mutated_configs(tmp: Path) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(SEED)
    values = special_values(tmp)
    bases = [(p.name, p.read_bytes()) for p in EXAMPLES]
    parsed = [(name, yaml.safe_load(text)) for name, text in bases]
    for i in range(N_STRUCTURAL):
        name, data = parsed[i % len(parsed)]
        yield f"structural-{i}-{name}", structural_mutation(rng, data, values).encode("utf-8", errors="surrogatepass")
    for i in range(N_BYTES):
        name, text = bases[i % len(bases)]
        yield f"bytes-{i}-{name}", byte_mutation(rng, text)
    for i, doc in enumerate(special_documents()):
        yield f"special-{i}", doc


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(key, value)


def test_hundreds_of_mutated_configs_load_or_fail_cleanly(tmp_path: Path, example_env: None) -> None:
    outcomes: dict[str, int] = {"ok": 0, "error": 0}
    failures: list[str] = []
    started = time.monotonic()
    slowest = (0.0, "")
    for name, content in mutated_configs(tmp_path):
        path = tmp_path / f"{name}.yml"
        path.write_bytes(content)
        t0 = time.monotonic()
        try:
            outcomes[check_outcome(path, load_config)] += 1
        except Exception as exc:  # collected, so one run shows every failing case
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
        took = time.monotonic() - t0
        slowest = max(slowest, (took, name))
    total = sum(outcomes.values()) + len(failures)
    print(f"\n{total} configs in {time.monotonic() - started:.1f}s: {outcomes}, slowest {slowest[1]} {slowest[0]:.2f}s")
    assert total >= 300
    assert not failures, f"{len(failures)} of {total} configs failed badly:\n" + "\n".join(failures[:40])
    assert outcomes["error"] >= 100 and outcomes["ok"] >= 1  # the mutations really exercise both paths


def test_the_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(ALIAS_BOMB)
    assert len(ALIAS_BOMB.encode()) == 578
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert time.monotonic() - started < 0.5
    assert "aliases expand to more than" in str(info.value)


def test_a_few_mutated_configs_through_the_cli(tmp_path: Path) -> None:
    """Exit 0 or 2, never a traceback, and an exit 2 names the file with a reason on every line."""
    picked = [c for i, c in enumerate(mutated_configs(tmp_path)) if i % 40 == 7 or c[0].startswith("special-0")]
    env = {**EXAMPLE_ENV}
    for name, content in picked[:10]:
        path = tmp_path / f"cli-{name}.yml"
        path.write_bytes(content)
        proc = run_cli("check-config", str(path), env=env, timeout=30)
        assert proc.returncode in (0, 2), f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr + proc.stdout, f"{name}:\n{proc.stderr[-2000:]}"
        if proc.returncode == 2:
            lines = proc.stderr.strip().splitlines()
            assert lines[0] == "error: invalid config"
            assert all(line.startswith(f"{path}: ") and len(line) > len(f"{path}: ") for line in lines[1:]), lines
