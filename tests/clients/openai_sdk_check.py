"""Drives a running modelrelay with the official `openai` Python SDK.

Run by tests/openai_sdk.rs against a router in front of a scripted fake upstream. The fake
answers the three model calls in this order: plain text, streamed text, streamed tool call.
Prints one JSON summary on stdout and exits 1 if anything differs from the expectations given
on the command line, 2 if a call raised something unexpected (the summary says what).
"""

import argparse
import json
import sys
import traceback

import openai

MESSAGES = [{"role": "user", "content": "hello"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", default="auto-fastest")
    parser.add_argument("--unknown-model", required=True)
    parser.add_argument("--expect-text", required=True)
    parser.add_argument("--expect-stream-text", required=True)
    parser.add_argument("--expect-tool-name", required=True)
    parser.add_argument("--expect-tool-arguments", required=True)
    return parser.parse_args()


def non_streaming(client, args):
    completion = client.chat.completions.create(model=args.model, messages=MESSAGES)
    choice = completion.choices[0]
    return {
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "model": completion.model,
    }


def streaming(client, args):
    stream = client.chat.completions.create(
        model=args.model,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    deltas = []
    finish_reason = None
    chunks = 0
    for chunk in stream:
        chunks += 1
        for choice in chunk.choices:
            if choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    return {
        "chunks": chunks,
        "deltas": deltas,
        "text": "".join(deltas),
        "finish_reason": finish_reason,
    }


def streaming_tool_call(client, args):
    stream = client.chat.completions.create(
        model=args.model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        stream=True,
    )
    calls = {}
    finish_reason = None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    return {
        "tool_calls": [calls[index] for index in sorted(calls)],
        "finish_reason": finish_reason,
    }


def unknown_model(client, args):
    try:
        client.chat.completions.create(model=args.unknown_model, messages=MESSAGES)
    except openai.NotFoundError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return {
            "raised": type(error).__name__,
            "status": error.status_code,
            "code": body.get("code"),
            "message": body.get("message"),
        }
    except openai.APIError as error:
        return {"raised": type(error).__name__, "status": getattr(error, "status_code", None)}
    return {"raised": None}


def mismatches(summary, args):
    found = []

    def check(what, got, want):
        if got != want:
            found.append(f"{what}: got {got!r}, want {want!r}")

    plain = summary["non_streaming"]
    check("non-streaming content", plain["content"], args.expect_text)
    check("non-streaming finish_reason", plain["finish_reason"], "stop")
    streamed = summary["streaming"]
    check("streamed text", streamed["text"], args.expect_stream_text)
    check("streamed finish_reason", streamed["finish_reason"], "stop")
    if len(streamed["deltas"]) < 2:
        found.append(f"streamed deltas: got {streamed['deltas']!r}, want several chunks")
    tools = summary["streaming_tool_call"]
    check("tool call count", len(tools["tool_calls"]), 1)
    if tools["tool_calls"]:
        call = tools["tool_calls"][0]
        check("tool call name", call["name"], args.expect_tool_name)
        check("tool call arguments", call["arguments"], args.expect_tool_arguments)
    check("tool finish_reason", tools["finish_reason"], "tool_calls")
    check("unknown model exception", summary["unknown_model"].get("raised"), "NotFoundError")
    check("unknown model status", summary["unknown_model"].get("status"), 404)
    return found


def main():
    args = parse_args()
    # No retries: every call must succeed the first time, and the fake's scripted order holds.
    client = openai.OpenAI(base_url=args.base_url, api_key="anything", max_retries=0, timeout=30.0)
    summary = {"openai_version": openai.__version__}
    try:
        summary["non_streaming"] = non_streaming(client, args)
        summary["streaming"] = streaming(client, args)
        summary["streaming_tool_call"] = streaming_tool_call(client, args)
        summary["unknown_model"] = unknown_model(client, args)
    except Exception as error:  # report what broke instead of a bare traceback
        summary["crashed"] = f"{type(error).__name__}: {error}"
        summary["traceback"] = traceback.format_exc()
        print(json.dumps(summary, indent=2))
        return 2
    summary["mismatches"] = mismatches(summary, args)
    print(json.dumps(summary, indent=2))
    return 1 if summary["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
