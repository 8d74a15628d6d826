"""Public fakes for users' own tests: scripted chat models that really answer, offline.

```python
from routing_chat_model.testing import ScriptedChatModel
```

Names load lazily (PEP 562), so importing this package needs no framework; asking for a
LangChain fake without langchain-core installed raises an `ImportError` naming the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routing_chat_model.testing.langchain import ScriptedCall, ScriptedChatModel
    from routing_chat_model.testing.llama_index import ScriptedLLM, ScriptedLLMCall

__all__ = ["ScriptedCall", "ScriptedChatModel", "ScriptedLLM", "ScriptedLLMCall"]

_MODULE_OF: dict[str, str] = {
    # public name -> submodule defining it; one line per exported fake
    "ScriptedCall": "langchain",
    "ScriptedChatModel": "langchain",
    "ScriptedLLM": "llama_index",
    "ScriptedLLMCall": "llama_index",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
