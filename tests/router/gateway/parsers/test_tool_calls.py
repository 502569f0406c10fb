"""Qwen3-Coder tool-call parser: typed arguments, several calls, malformed markup, streaming."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve.router.gateway.parsers import ToolCallStreamParser, parse_tool_calls
from hybridserve.router.gateway.protocol import FunctionDefinition, Tool
from tests.router.gateway.parsers.streaming import split_at, stream_tools

WEATHER = Tool(
    function=FunctionDefinition(
        name="get_weather",
        parameters={
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "days": {"type": "integer"},
                "threshold": {"type": "number"},
                "metric": {"type": "boolean"},
                "filters": {"type": "object"},
                "hours": {"type": "array", "items": {"type": "integer"}},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
        },
    )
)
SEARCH = Tool(function=FunctionDefinition(name="search", parameters={"properties": {}}))
TOOLS = [WEATHER, SEARCH]


def call(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


PARIS = call("get_weather", location="Paris", days="3")
TYPED = call(
    "get_weather",
    location="São Paulo",
    days="7",
    threshold="2.5",
    metric="True",
    filters='{"wind": {"max": 30}, "rain": null}',
    hours="[6, 12, 18]",
    note="null",
)

# model output -> (content, [(name, arguments)])
CASES = [
    ("Plain answer, no calls.", ("Plain answer, no calls.", [])),
    (PARIS, ("", [("get_weather", {"location": "Paris", "days": 3})])),
    (
        f"I'll check.\n\n{PARIS}\n",
        ("I'll check.", [("get_weather", {"location": "Paris", "days": 3})]),
    ),
    (
        TYPED,
        (
            "",
            [
                (
                    "get_weather",
                    {
                        "location": "São Paulo",
                        "days": 7,
                        "threshold": 2.5,
                        "metric": True,
                        "filters": {"wind": {"max": 30}, "rain": None},
                        "hours": [6, 12, 18],
                        "note": None,
                    },
                )
            ],
        ),
    ),
    (
        "Three:\n"
        + "\n".join([PARIS, call("search", q="a\nb"), call("get_weather", location="X")]),
        (
            "Three:",
            [
                ("get_weather", {"location": "Paris", "days": 3}),
                ("search", {"q": "a\nb"}),
                ("get_weather", {"location": "X"}),
            ],
        ),
    ),
    (call("search"), ("", [("search", {})])),
    (call("unknown_fn", x="42"), ("", [("unknown_fn", {"x": "42"})])),
    # A value keeps inner newlines and markup-like text; only one newline each side is stripped.
    (call("search", q="\n<b>x</b>\n"), ("", [("search", {"q": "\n<b>x</b>\n"})])),
    (call("search", q="a </parameter> b"), ("", [("search", {"q": "a </parameter> b"})])),
    # A forgotten </parameter> is closed by the next parameter line.
    (
        "<tool_call>\n<function=get_weather>\n<parameter=location>\nRome\n"
        "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>",
        ("", [("get_weather", {"location": "Rome", "days": 2})]),
    ),
    # Unparseable numbers stay strings, as in vLLM.
    (call("get_weather", days="three"), ("", [("get_weather", {"days": "three"})])),
    # Python-literal objects are accepted.
    (call("get_weather", filters="{'a': True}"), ("", [("get_weather", {"filters": {"a": True}})])),
]

MALFORMED = [
    "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis",  # cut off
    "<tool_call>\n<function=get_weather>\n</function>\n",  # no </tool_call>
    "<tool_call>\n<function=get weather>\n</function>\n</tool_call>",  # space in the name
    '<tool_call>\n<function={"name": "f"}>\n</function>\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',  # Hermes JSON, not XML
    call("get_weather", filters="{not json"),
    call("get_weather", hours="[1, 2"),
    "<tool_call>\n<function=f>\n<parameter=>\nx\n</parameter>\n</function>\n</tool_call>",
    "<tool_call>",
    "<tool_call>\n<function=",
]


def run(text: str) -> tuple[str, list[tuple[str, dict]]]:
    result = parse_tool_calls(text, TOOLS)
    for c in result.tool_calls:
        assert c.id.startswith("call_") and len(c.id) == 29 and c.type == "function"
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in result.tool_calls]
    return result.content or "", calls


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_whole_text(text, expected):
    assert run(text) == expected


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_markup_is_content(text):
    assert run(text) == (text, [])
    assert stream_tools(list(text), TOOLS) == (text, [])


def test_malformed_block_does_not_hide_later_calls():
    bad = "<tool_call>\n<function=a b>\n</function>\n</tool_call>"
    content, calls = run(f"{bad}\n{PARIS}")
    assert content == bad and [name for name, _ in calls] == ["get_weather"]


def test_arguments_are_json_with_unicode_kept():
    result = parse_tool_calls(TYPED, TOOLS)
    assert "São Paulo" in result.tool_calls[0].function.arguments


@pytest.mark.parametrize("text", [text for text, _ in CASES] + MALFORMED)
def test_every_split_point_and_single_chars(text):
    content, calls = run(text)
    want = (content, [(name, json.dumps(args, ensure_ascii=False)) for name, args in calls])
    for cut in range(len(text) + 1):
        assert stream_tools(split_at(text, [cut]), TOOLS) == want, cut
    assert stream_tools(list(text), TOOLS) == want


def test_stream_emits_content_early_and_calls_at_close():
    parser = ToolCallStreamParser(TOOLS)
    assert parser.feed("Checking <tool") == ("Checking", [])
    head = PARIS[len("<tool") : -len("</tool_call>")]
    assert parser.feed(head) == ("", [])
    delta = parser.feed("</tool_call>")
    assert delta.content == "" and len(delta.tool_calls) == 2
    first, second = delta.tool_calls
    assert first.index == second.index == 0
    assert first.id == parser.tool_calls[0].id and first.function.name == "get_weather"
    assert first.function.arguments == "" and second.id is None
    assert json.loads(second.function.arguments) == {"location": "Paris", "days": 3}
    assert parser.finish() == ("", [])


def test_partial_start_tag_released_when_not_a_tag():
    parser = ToolCallStreamParser()
    assert parser.feed("x <tool") == ("x", [])
    assert parser.feed("box>") == (" <toolbox>", [])


FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<function=get_weather>",
    "<function=search>",
    "</function>",
    "<parameter=days>",
    "<parameter=q>",
    "</parameter>",
    "\n",
    " ",
    "3",
    "<",
]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=16).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(0, 120), max_size=12))
def test_any_chunking_equals_whole_text(text, cuts):
    content, calls = run(text)
    want = (content, [(name, json.dumps(args, ensure_ascii=False)) for name, args in calls])
    assert stream_tools(split_at(text, cuts), TOOLS) == want
    if not calls:
        assert content == text


@settings(max_examples=100, deadline=None)
@given(
    prefix=st.text(max_size=20).filter(lambda s: "<tool_call>" not in s),
    q=st.text(max_size=20).filter(lambda s: "</parameter>" not in s and "<parameter=" not in s),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_generated_calls_round_trip(prefix, q, cuts):
    text = prefix + call("search", q=q)
    content, calls = run(text)
    assert calls == [("search", {"q": q})] or "</function>" in q
    assert stream_tools(split_at(text, cuts), TOOLS)[1] == [
        (n, json.dumps(a, ensure_ascii=False)) for n, a in calls
    ]
