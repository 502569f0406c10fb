"""Train the `tiny` preset's byte-level BPE tokenizer (1024 ids) and write its three asset files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB_SIZE = 1024
MAX_LENGTH = 4096  # the tiny preset's max_position_embeddings
# Fixed low ids, in this order: 0 <pad>, 1 <s>, 2 </s>, 3 <|im_start|>, 4 <|im_end|>, ...
CONTROL_TOKENS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
# Markup the reasoning and tool-call parsers read back from decoded text, so decode keeps them.
MARKUP_TOKENS = [
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "hybridserve" / "assets" / "tiny"

CORPUS = [
    """The harbour town wakes before the sun. Fishing boats leave the quay one after another,
their engines coughing in the cold air, while the bakers on the main street pull the first
loaves out of their ovens. By seven o'clock the market square is full of people buying bread,
cheese, apples and fresh fish, and the smell of coffee drifts from every open door.""",
    """In the afternoon the weather often changes quickly. A clear blue sky can turn grey within
an hour, and the wind brings rain from the west. Old sailors say that they can read the clouds
like a book: thin white streaks mean fair weather tomorrow, while heavy dark towers warn of a
storm. Most visitors simply check the forecast on their phones and carry an umbrella.""",
    """A good recipe is a small program. It names its ingredients, tells you how much of each to
use, and describes the steps in order: heat the oil, chop the onions, add the garlic, stir
until golden, then pour in the tomatoes and let the sauce simmer for twenty minutes. If you
skip a step or change the order, the result may still be edible, but it will not be the same.""",
    """Computers store text as numbers. Each character is encoded as one or more bytes, and a
tokenizer groups frequent sequences of bytes into tokens so that a language model can read
and write them. Common words such as "the", "and" or "model" become single tokens, while rare
words are split into several pieces. Because every byte has a token of its own, any text can
be encoded and decoded again without losing a single character.""",
    """A serving system receives many requests at the same time. The router checks each request,
renders the conversation with a chat template, and sends the prompt to a worker. The worker
runs the model, samples one token after another, and streams the text back to the user. When
the model writes a stop string or the end of its turn, the request is finished and its memory
is returned to the pool for the next request.""",
    """The assistant should think before it answers. First it reasons about the question step by
step, then it writes a short and helpful reply. When a question needs fresh information, such
as the weather in Paris, the price of a train ticket or the result of a calculation, the
assistant may call a function. It names the function, fills in each parameter with a value,
and waits for the tool response before it continues the conversation with the user.""",
    """The system message sets the rules for the whole conversation. It may describe the tools
that are available, with a name, a description and the type of every parameter. A location is
a string, a number of days is an integer, and a list of options is an array. Required
parameters must always be given; optional ones can be left out when the default is fine.""",
    """Numbers and dates appear everywhere: 1, 2, 3, 10, 42, 100, 2024, 3.14, 0.5 and 1000.
Meetings start at 9:30 on Monday, the train leaves at 17:45 on Friday, and the report is due
on the 1st of March. Prices are written as 12.50 or 99.99, and a temperature of 21 degrees is
pleasant for a walk in the park along the river.""",
    """Code is read more often than it is written. A good file has one job, a short docstring at
the top, and names that say what each thing is. Functions take typed arguments and return typed
values; errors are raised with a message that names the field which was wrong. Tests check the
behaviour from the outside, so that the inside can change without breaking anything.""",
    """On Sunday morning the library opens late. Children sit on the carpet and listen to stories
about dragons, pirates and talking animals, while their parents look for novels, history books
and travel guides. The librarian knows every shelf by heart and can find a lost book in a
minute, even when someone has put it back in the wrong place.""",
    """Mountains, forests, lakes and deserts cover most of the land. Rivers carry water from the
hills down to the sea, where it evaporates, forms clouds and falls again as rain or snow. This
cycle has repeated for millions of years, shaping valleys, feeding plants and giving animals
and people something to drink.""",
]


# Behaves like NVIDIA's Nemotron 3 Nano template (reference/nemotron_h.md §5.1), except that a
# conversation opening with a tool result still gets its user turn opened.
CHAT_TEMPLATE = r"""{#- Nemotron 3 Nano style ChatML, written by scripts/make_tiny_tokenizer.py.
    Options: enable_thinking, truncate_history_thinking (both default true). -#}
{%- macro extra_keys(obj, handled) -%}
  {%- if obj is mapping -%}
    {%- for key in obj if key not in handled -%}
      {%- set value = obj[key] -%}
      {%- if value is mapping or (value is sequence and value is not string) -%}
        {%- set value = value | tojson -%}
      {%- endif -%}
      {{- '\n<' ~ key ~ '>' ~ (value | string) ~ '</' ~ key ~ '>' -}}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro -%}
{%- set enable_thinking = enable_thinking if enable_thinking is defined else true -%}
{%- set truncate_history_thinking = truncate_history_thinking
    if truncate_history_thinking is defined else true -%}
{%- set tools = tools if tools is defined and tools is iterable else [] -%}
{%- if messages | length > 0 and messages[0].role == 'system' -%}
  {%- set system_message = messages[0].content | default('', true) | string -%}
  {%- set loop_messages = messages[1:] -%}
{%- else -%}
  {%- set system_message = '' -%}
  {%- set loop_messages = messages -%}
{%- endif -%}
{#- Assistant turns before the last user turn lose their reasoning when truncating. -#}
{%- set ns = namespace(last_user_idx=-1) -%}
{%- for message in loop_messages -%}
  {%- if message.role == 'user' -%}
    {%- set ns.last_user_idx = loop.index0 -%}
  {%- endif -%}
{%- endfor -%}
{#- The system turn is always rendered, even when empty. -#}
{{- '<|im_start|>system\n' ~ system_message -}}
{%- if tools | length > 0 -%}
  {%- if system_message | length > 0 -%}
    {{- '\n\n' -}}
  {%- endif -%}
  {{- '# Tools\n\nYou have access to the following functions:\n\n<tools>' -}}
  {%- for tool in tools -%}
    {%- set fn = tool.function if tool.function is defined else tool -%}
    {%- set params = fn.parameters if fn.parameters is mapping else {} -%}
    {{- '\n<function>\n<name>' ~ fn.name ~ '</name>' -}}
    {%- if fn.description is defined and fn.description is not none -%}
      {{- '\n<description>' ~ (fn.description | trim) ~ '</description>' -}}
    {%- endif -%}
    {{- '\n<parameters>' -}}
    {%- if params.properties is mapping -%}
      {%- for name, field in params.properties | items -%}
        {{- '\n<parameter>\n<name>' ~ name ~ '</name>' -}}
        {%- if field.type is defined -%}
          {{- '\n<type>' ~ (field.type | string) ~ '</type>' -}}
        {%- endif -%}
        {%- if field.description is defined and field.description is not none -%}
          {{- '\n<description>' ~ (field.description | trim) ~ '</description>' -}}
        {%- endif -%}
        {%- if field.enum is defined -%}
          {{- '\n<enum>' ~ (field.enum | tojson) ~ '</enum>' -}}
        {%- endif -%}
        {{- extra_keys(field, ['name', 'type', 'description', 'enum']) -}}
        {{- '\n</parameter>' -}}
      {%- endfor -%}
    {%- endif -%}
    {{- extra_keys(params, ['type', 'properties', 'required']) -}}
    {%- if params.required is defined -%}
      {{- '\n<required>' ~ (params.required | tojson) ~ '</required>' -}}
    {%- endif -%}
    {{- '\n</parameters>' -}}
    {{- extra_keys(fn, ['type', 'name', 'description', 'parameters']) -}}
    {{- '\n</function>' -}}
  {%- endfor -%}
  {{- '\n</tools>' -}}
  {{- '\n\nIf you choose to call a function ONLY reply in the following format with NO ' -}}
  {{- 'suffix:\n\n<tool_call>\n<function=example_function_name>\n' -}}
  {{- '<parameter=example_parameter_1>\nvalue_1\n</parameter>\n' -}}
  {{- '<parameter=example_parameter_2>\nThis is the value for the second parameter\n' -}}
  {{- 'that can span\nmultiple lines\n</parameter>\n</function>\n</tool_call>\n\n' -}}
  {{- '<IMPORTANT>\nReminder:\n- Function calls MUST follow the specified format: an inner ' -}}
  {{- '<function=...></function> block must be nested within <tool_call></tool_call> XML ' -}}
  {{- 'tags\n- Required parameters MUST be specified\n' -}}
  {{- '- You may provide optional reasoning for your function call in natural language ' -}}
  {{- 'BEFORE the function call, but NOT after\n' -}}
  {{- '- If there is no function call available, answer the question like normal with your ' -}}
  {{- 'current knowledge and do not tell the user about function calls\n</IMPORTANT>' -}}
{%- endif -%}
{{- '<|im_end|>\n' -}}
{%- for message in loop_messages -%}
  {%- if message.role == 'assistant' -%}
    {%- set truncate = truncate_history_thinking and loop.index0 < ns.last_user_idx -%}
    {%- set reasoning = message.reasoning_content
      if message.reasoning_content is string else '' -%}
    {%- set text = message.content | default('', true) | string -%}
    {%- if reasoning | trim | length > 0 -%}
      {%- set text = '<think>\n' ~ reasoning ~ '\n</think>\n' ~ text -%}
    {%- elif '<think>' not in text and '</think>' not in text -%}
      {%- set text = '<think></think>' ~ text -%}
    {%- endif -%}
    {%- set tool_calls = message.tool_calls if message.tool_calls is iterable else [] -%}
    {%- if tool_calls | length > 0 -%}
      {%- if truncate -%}
        {%- if '</think>' in text -%}
          {%- set text = text.split('</think>')[-1] -%}
        {%- elif '<think>' in text -%}
          {%- set text = text.split('<think>')[0] -%}
        {%- endif -%}
        {%- set text = '<think></think>' ~ (text | trim) -%}
      {%- endif -%}
      {{- '<|im_start|>assistant\n' ~ (text | trim) ~ '\n' -}}
      {%- for call in tool_calls -%}
        {%- set fn = call.function if call.function is defined else call -%}
        {{- '<tool_call>\n<function=' ~ fn.name ~ '>\n' -}}
        {%- if fn.arguments is mapping -%}
          {%- for name, value in fn.arguments | items -%}
            {%- if value is mapping or (value is sequence and value is not string) -%}
              {%- set value = value | tojson -%}
            {%- endif -%}
            {{- '<parameter=' ~ name ~ '>\n' ~ (value | string) ~ '\n</parameter>\n' -}}
          {%- endfor -%}
        {%- endif -%}
        {{- '</function>\n</tool_call>\n' -}}
      {%- endfor -%}
      {{- '<|im_end|>\n' -}}
    {%- else -%}
      {%- if truncate and '<think>' in text and '</think>' in text -%}
        {%- set text = '<think></think>' ~ text.split('</think>')[-1] -%}
      {%- endif -%}
      {{- '<|im_start|>assistant\n' ~ (text | trim) ~ '<|im_end|>\n' -}}
    {%- endif -%}
  {%- elif message.role == 'tool' -%}
    {#- Consecutive tool results share one user turn. -#}
    {%- if loop.first or loop.previtem.role != 'tool' -%}
      {{- '<|im_start|>user\n' -}}
    {%- endif -%}
    {{- '<tool_response>\n' ~ (message.content | string) ~ '\n</tool_response>\n' -}}
    {%- if loop.last or loop.nextitem.role != 'tool' -%}
      {{- '<|im_end|>\n' -}}
    {%- endif -%}
  {%- else -%}
    {{- '<|im_start|>' ~ message.role ~ '\n' ~ (message.content | string) ~ '<|im_end|>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
  {%- if enable_thinking -%}
    {{- '<|im_start|>assistant\n<think>\n' -}}
  {%- else -%}
    {{- '<|im_start|>assistant\n<think></think>' -}}
  {%- endif -%}
{%- endif -%}
"""


def build_tokenizer() -> Tokenizer:
    """Train on `CORPUS`; the BPE trainer breaks ties by token id, so the result is stable."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=CONTROL_TOKENS + MARKUP_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator([" ".join(p.split()) for p in CORPUS], trainer=trainer)
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size != VOCAB_SIZE:
        raise SystemExit(f"the corpus yields {size} tokens, not {VOCAB_SIZE}: add text")
    return tokenizer


def tokenizer_json(tokenizer: Tokenizer) -> str:
    """Serialized tokenizer with the markup tokens marked non-special (decode keeps them)."""
    data = json.loads(tokenizer.to_str())
    for entry in data["added_tokens"]:
        entry["special"] = entry["content"] in CONTROL_TOKENS
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def tokenizer_config_json() -> str:
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "<|im_end|>",
        "pad_token": "<pad>",
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MAX_LENGTH,
    }
    return json.dumps(config, indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    files = {
        "tokenizer.json": tokenizer_json(build_tokenizer()),
        "tokenizer_config.json": tokenizer_config_json(),
        "chat_template.jinja": CHAT_TEMPLATE,
    }
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
