"""Building the selector a router file declares: one selector, a chain or weighted links, wrapped.

Kept apart from `routing_chat_model.config` so the file layout and its checks stay readable.
Every error is re-raised naming the key of the part that failed (`selector.links[1]`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from routing_chat_model.config import ModelSpec, RouterSpec, SelectorSpec

__all__ = ["build_router", "build_selector"]

M = TypeVar("M")
R = TypeVar("R")

LLMFactory = Callable[[SelectorSpec], object]


def build_selector(
    router: RouterSpec, spec: SelectorSpec, encoder: object, llm_selector: LLMFactory | None
) -> object:
    """The selector `spec` declares, composite links and conversation wrappers included."""
    if spec.kind in ("chain", "weighted"):
        from routing_chat_model.selectors.hybrid import first_of, weighted

        links = [build_selector(router, link, encoder, llm_selector) for link in spec.links]
        with router.blame(spec.key):
            if spec.kind == "chain":
                selector: object = first_of(*links)
            else:
                pairs: list[tuple[Any, float]] = [
                    (built, link.weight if link.weight is not None else 1.0)
                    for built, link in zip(links, spec.links, strict=True)
                ]
                selector = weighted(pairs, spec.options.get("threshold"), **_normalize(spec))
    else:
        selector = _single(router, spec, encoder, llm_selector)
    return _wrap(router, spec, selector)


def _normalize(spec: SelectorSpec) -> dict[str, Any]:
    normalize = spec.options.get("normalize")
    return {} if normalize is None else {"normalize": normalize}


def _wrap(router: RouterSpec, spec: SelectorSpec, selector: object) -> object:
    if not spec.sticky and spec.escalate_only is None:
        return selector
    from routing_chat_model.selectors.conversation import escalate_only, sticky

    settings = dict(spec.conversation)
    if spec.sticky:
        with router.blame(f"{spec.key}.sticky"):
            return sticky(selector, **settings)
    assert spec.escalate_only is not None
    with router.blame(f"{spec.key}.escalate_only"):
        return escalate_only(selector, spec.escalate_only, **settings)


def _single(
    router: RouterSpec, spec: SelectorSpec, encoder: object, llm_selector: LLMFactory | None
) -> object:
    if spec.kind == "rules":
        from routing_chat_model.selectors.rules import Rule, RuleSelector

        rules = []
        for i, kwargs in enumerate(spec.rules):
            with router.blame(f"rules[{i}]"):
                rules.append(Rule(**kwargs))
        with router.blame("rules"):
            return RuleSelector(rules)
    if spec.kind == "embedding":
        from routing_chat_model.selectors.embedding import EmbeddingSelector

        thresholds = {r.name: r.threshold for r in spec.routes if r.threshold is not None}
        with router.blame(spec.key):
            return EmbeddingSelector(
                {r.name: list(r.examples) for r in spec.routes},
                encoder,
                thresholds=thresholds or None,
                **spec.options,
            )
    if spec.kind == "llm":
        if llm_selector is None:
            raise router.error(
                f"{spec.key}.type",
                "an 'llm' selector is built by an adapter's from_config (it needs a chat model).",
            )
        with router.blame(spec.key):
            return llm_selector(spec)
    return _load_saved(router, spec, encoder)


def _load_saved(router: RouterSpec, spec: SelectorSpec, encoder: object) -> object:
    path = Path(spec.options["path"])
    if spec.kind == "learned":
        from routing_chat_model.selectors.learned import LearnedSelector

        with router.blame(f"{spec.key}.path"):
            return LearnedSelector.load(path, encoder=encoder)
    from routing_chat_model.selectors.classifier import ClassifierSelector

    with router.blame(f"{spec.key}.path"):
        selector = ClassifierSelector.load(path, encoder=encoder)
    if "threshold" in spec.options:
        with router.blame(f"{spec.key}.threshold"):
            selector.threshold = spec.options["threshold"]
    return selector


def build_router(
    cls: type[R],
    spec: RouterSpec,
    given: Mapping[str, M],
    *,
    build_model: Callable[[ModelSpec], M],
    llm_selector: Callable[[SelectorSpec, M], object],
    encoder: object,
    overrides: dict[str, Any],
) -> R:
    """The router `spec` declares, for either adapter's `RoutingChatModel.from_config`.

    Args:
        cls: The adapter's router class (a pydantic model).
        spec: The loaded file.
        given: Ready models replacing some or all of the file's (name -> model).
        build_model: The framework's factory for one model of the file.
        llm_selector: The framework's LLM-as-router, from the selector spec and its model.
        encoder: The encoder of an embedding, learned or classifier selector.
        overrides: Settings winning over the file's; `gates=` replaces the file's whole list.

    Raises:
        RouteConfigError: the file is invalid; the message names the file and the bad key.
    """
    built = _models(spec, given, build_model)

    def make_llm_selector(selector: SelectorSpec) -> object:
        chosen = selector.model
        if isinstance(chosen, str):
            return llm_selector(selector, built[chosen])
        assert chosen is not None  # the file check requires selector.model
        return llm_selector(selector, build_model(chosen))

    if "selector" in overrides:
        selector = overrides.pop("selector")
    else:
        selector = spec.build_selector(encoder=encoder, llm_selector=make_llm_selector)
    # gates= in code replaces the file's whole list (objects the file cannot declare).
    gates = overrides.pop("gates") if "gates" in overrides else spec.build_gates()
    fields: Mapping[str, Any] = getattr(cls, "model_fields", {})
    kwargs = {
        "models": built,
        "selector": selector,
        "gates": gates,
        **spec.settings_for(fields, cls.__name__),
        **overrides,
    }
    try:
        with spec.blame(""):
            return cls(**kwargs)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise spec.error(key, first["msg"]) from exc


def _models(
    spec: RouterSpec, given: Mapping[str, M], build_model: Callable[[ModelSpec], M]
) -> dict[str, M]:
    names = [m.name for m in spec.models]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise spec.error(
            "models",
            f"models= passes {unknown}, which the file does not declare; it declares {names}.",
        )
    out: dict[str, M] = {}
    for model in spec.models:
        if model.name in given:
            out[model.name] = given[model.name]
            continue
        with spec.blame(model.key):
            out[model.name] = build_model(model)
    return out
