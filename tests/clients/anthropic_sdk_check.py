"""Drives a running modelrelay's `/v1/messages` with the official `anthropic` Python SDK.

Run by tests/anthropic_messages.rs against a router in front of a scripted fake OpenAI upstream.
The fake answers the model calls in this order: plain text, streamed text, a whole tool call,
a streamed tool call. Prints one JSON summary on stdout; exits 2 if a call raised something
unexpected (the summary says what). The Rust test checks the summary.
"""

import argparse
import json
import sys
import traceback

import anthropic

MESSAGES = [{"role": "user", "content": "hello"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def blocks(message):
    out = []
    for block in message.content:
        if block.type == "text":
            out.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            out.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    return out


def summary_of(message):
    return {
        "model": message.model,
        "content": blocks(message),
        "stop_reason": message.stop_reason,
        "usage": {"input": message.usage.input_tokens, "output": message.usage.output_tokens},
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    client = anthropic.Anthropic(
        base_url=args.base_url, api_key="anything", max_retries=0, timeout=30.0
    )
    summary = {"anthropic_version": anthropic.__version__}
    try:
        plain = client.messages.create(model=args.model, max_tokens=100, messages=MESSAGES)
        summary["non_streaming"] = summary_of(plain)

        deltas = []
        with client.messages.stream(
            model=args.model, max_tokens=100, system="Be brief.", messages=MESSAGES
        ) as stream:
            for text in stream.text_stream:
                deltas.append(text)
            final = stream.get_final_message()
        summary["streaming"] = dict(summary_of(final), deltas=deltas)

        tool = client.messages.create(
            model=args.model,
            max_tokens=100,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "auto"},
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
        summary["tool_call"] = summary_of(tool)

        with client.messages.stream(
            model=args.model,
            max_tokens=100,
            tools=[WEATHER_TOOL],
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_0", "name": "get_weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_0", "content": "sunny"},
                    {"type": "text", "text": "And Paris?"},
                ]},
            ],
        ) as stream:
            events = [event.type for event in stream]
            final = stream.get_final_message()
        summary["streaming_tool_call"] = dict(summary_of(final), events=events)

        counted = client.messages.count_tokens(model=args.model, messages=MESSAGES)
        summary["count_tokens"] = counted.input_tokens

        try:
            client.messages.create(model=args.model, max_tokens=100, messages=[])
            summary["bad_request"] = {"raised": None}
        except anthropic.BadRequestError as error:
            body = error.body if isinstance(error.body, dict) else {}
            summary["bad_request"] = {
                "raised": type(error).__name__,
                "status": error.status_code,
                "type": body.get("error", {}).get("type"),
            }
    except Exception as error:  # report what broke instead of a bare traceback
        summary["crashed"] = f"{type(error).__name__}: {error}"
        summary["traceback"] = traceback.format_exc()
        print(json.dumps(summary, indent=2))
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
