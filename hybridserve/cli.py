"""The `hybridserve` command line: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import json
import sys


def _generate(args: argparse.Namespace) -> int:
    from hybridserve.workers.engine import LLM, SamplingParams  # torch stays out of --help

    llm = LLM(model=args.model, device=args.device, chunked_prefill_size=args.chunked_prefill_size)
    params = SamplingParams(
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed
    )
    for out in llm.generate(args.prompt, params):
        print(
            json.dumps(
                {
                    "text": out.text,
                    "token_ids": out.token_ids,
                    "finish_reason": out.finish_reason,
                    "cached_tokens": out.cached_tokens,
                }
            )
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hybridserve", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="run the offline engine on prompts and print JSON lines")
    gen.add_argument(
        "--model",
        default="tiny",
        help="preset name (tiny, nemotron-3-nano-30b-a3b) or a HF checkpoint folder",
    )
    gen.add_argument(
        "--prompt",
        action="append",
        required=True,
        help="a text prompt; repeat the flag for several prompts (one batch)",
    )
    gen.add_argument("--max-tokens", type=int, default=32, help="tokens to generate per prompt")
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    gen.add_argument("--seed", type=int, default=None, help="per-request sampling seed")
    gen.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    gen.add_argument(
        "--chunked-prefill-size", type=int, default=512, help="token budget of one engine step"
    )
    gen.set_defaults(func=_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
