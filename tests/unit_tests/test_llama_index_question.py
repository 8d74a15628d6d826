"""The LlamaIndex router routes on the user's question inside LlamaIndex's own prompt templates."""

from __future__ import annotations

import pytest
from llama_index.core.chat_engine.condense_plus_context import DEFAULT_CONDENSE_PROMPT_TEMPLATE
from llama_index.core.prompts.chat_prompts import CHAT_REFINE_PROMPT, CHAT_TEXT_QA_PROMPT
from llama_index.core.prompts.default_prompts import DEFAULT_REFINE_PROMPT, DEFAULT_TEXT_QA_PROMPT

from routing_chat_model.llama_index._calls import question_of

QUESTION = "Prove that the square root of 2 is irrational."
CONTEXT = "Paris is the capital of France.\nQuery: not this one\nThe Seine flows through it."


@pytest.mark.parametrize(
    "text",
    [
        DEFAULT_TEXT_QA_PROMPT.format(context_str=CONTEXT, query_str=QUESTION),
        CHAT_TEXT_QA_PROMPT.format_messages(context_str=CONTEXT, query_str=QUESTION)[-1].content,
        CHAT_REFINE_PROMPT.format_messages(
            context_msg=CONTEXT, query_str=QUESTION, existing_answer="so far"
        )[-1].content,
        DEFAULT_REFINE_PROMPT.format(
            query_str=QUESTION, existing_answer="so far", context_msg=CONTEXT
        ),
        DEFAULT_CONDENSE_PROMPT_TEMPLATE.format(chat_history="user: hi", question=QUESTION),
    ],
)
def test_question_is_found_in_llama_index_templates(text: str) -> None:
    assert question_of(str(text)) == QUESTION


def test_plain_messages_are_left_alone() -> None:
    assert question_of(QUESTION) is None
    assert question_of("Query: what?\nAnswer:") is None  # no template around it
