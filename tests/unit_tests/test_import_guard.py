"""The core works without any framework; each adapter says how to install its framework.

Each check runs in a fresh interpreter, so what this test process imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_core_works_without_langchain_or_llama_index() -> None:
    result = run_python(
        """
        import sys
        for blocked in ("langchain_core", "langchain", "llama_index", "llama_index.core"):
            sys.modules[blocked] = None  # makes `import <blocked>` raise ImportError

        import routing_chat_model
        from routing_chat_model import Router, Rule, RuleSelector, RoutingRequest, Turn

        router = Router(
            ["fast", "strong"],
            selector=RuleSelector([Rule(route="strong", keywords=["prove"])]),
        )
        request = RoutingRequest.from_turns([Turn(role="user", text="prove it")])
        print(router.decide(request).route)
        try:
            import routing_chat_model.langchain
        except ImportError as exc:
            print("IMPORT ERROR:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "strong"
    assert lines[1].startswith("IMPORT ERROR:")
    assert "pip install 'routing-chat-model[langchain]'" in lines[1]


def test_importing_the_package_loads_no_framework_or_model() -> None:
    result = run_python(
        """
        import json, sys
        import routing_chat_model
        from routing_chat_model import EmbeddingSelector, RuleSelector, Rule
        heavy = ("wordllama", "langchain_core", "llama_index", "genai_prices", "openai")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_importing_the_langchain_adapter_loads_no_other_framework() -> None:
    result = run_python(
        """
        import json, sys
        from routing_chat_model.langchain import RoutingChatModel
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"llama_index", "wordllama"})))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_llama_index_adapter_names_the_pip_command_when_missing() -> None:
    result = run_python(
        """
        import sys
        for blocked in ("llama_index", "llama_index.core"):
            sys.modules[blocked] = None

        try:
            import routing_chat_model.llama_index
        except ImportError as exc:
            print("IMPORT ERROR:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'routing-chat-model[llama-index]'" in result.stdout
