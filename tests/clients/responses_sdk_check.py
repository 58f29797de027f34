"""Drives a running modelrelay's `/v1/responses` with the official `openai` Python SDK.

Run by tests/openai_responses.rs against a router in front of a scripted fake OpenAI chat
upstream. The fake answers the model calls in this order: plain text, streamed text, a whole
function call, a streamed function call. Prints one JSON summary on stdout; exits 2 if a call
raised something unexpected (the summary says what). The Rust test checks the summary.
"""

import argparse
import json
import sys
import traceback

import openai

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def items(response):
    out = []
    for item in response.output:
        if item.type == "message":
            out.append({"type": "message", "text": "".join(c.text for c in item.content)})
        elif item.type == "function_call":
            out.append({
                "type": "function_call",
                "call_id": item.call_id,
                "name": item.name,
                "arguments": item.arguments,
            })
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key="anything", max_retries=0, timeout=30.0)
    summary = {"openai_version": openai.__version__}
    try:
        plain = client.responses.create(model=args.model, input="hello", store=False)
        summary["non_streaming"] = {
            "status": plain.status,
            "output_text": plain.output_text,
            "items": items(plain),
            "model": plain.model,
        }

        deltas = []
        events = []
        final = None
        stream = client.responses.create(
            model=args.model,
            instructions="Be brief.",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "hello"}]}],
            stream=True,
            store=False,
            max_output_tokens=100,
        )
        for event in stream:
            events.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.completed":
                final = event.response
        summary["streaming"] = {
            "deltas": deltas,
            "events": events,
            "final_text": final.output_text if final else None,
        }

        whole = client.responses.create(
            model=args.model,
            input="Weather in Paris?",
            tools=[TOOL],
            tool_choice="auto",
            store=False,
        )
        summary["tool_call"] = {"items": items(whole), "status": whole.status}

        args_deltas = []
        final = None
        stream = client.responses.create(
            model=args.model,
            input=[
                {"role": "user", "content": "Weather in Rome, then Paris?"},
                {"type": "function_call", "call_id": "call_0", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_0", "output": "sunny"},
            ],
            tools=[TOOL],
            stream=True,
            store=False,
        )
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                args_deltas.append(event.delta)
            if event.type == "response.completed":
                final = event.response
        summary["streaming_tool_call"] = {
            "arguments_deltas": args_deltas,
            "items": items(final) if final else None,
        }

        try:
            client.responses.create(model=args.model, input="x", previous_response_id="resp_1")
            summary["stateful"] = {"raised": None}
        except openai.BadRequestError as error:
            summary["stateful"] = {"raised": type(error).__name__, "status": error.status_code}
    except Exception as error:  # report what broke instead of a bare traceback
        summary["crashed"] = f"{type(error).__name__}: {error}"
        summary["traceback"] = traceback.format_exc()
        print(json.dumps(summary, indent=2))
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
