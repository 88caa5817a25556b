"""The official Python openai client against the Switchyard gateway.

Usage: openai_client.py BASE_URL API_KEY. Prints one JSON object with what it got; the Go test
(TestGatewayWithOpenAISDKsOnRealKafka) checks it.
"""
import json
import sys

import openai

base_url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
out = {"version": openai.__version__}
messages = [{"role": "user", "content": "What is a switchyard?"}]

plain = client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=64)
out["plain"] = plain.choices[0].message.content
out["plain_model"] = plain.model
out["plain_usage"] = plain.usage.total_tokens

text = []
usage = None
for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                            stream_options={"include_usage": True}):
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        if choice.delta.content:
            text.append(choice.delta.content)
out["stream"] = "".join(text)
out["stream_usage"] = usage

tools = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
weather = [{"role": "user", "content": "What is the weather in Paris?"}]
call = client.chat.completions.create(model="gpt-4o-mini", messages=weather, tools=tools, tool_choice="required")
out["tool_name"] = call.choices[0].message.tool_calls[0].function.name
out["tool_args"] = json.loads(call.choices[0].message.tool_calls[0].function.arguments)

name = []
for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=weather, tools=tools,
                                            tool_choice="required", stream=True):
    for choice in chunk.choices:
        for tc in choice.delta.tool_calls or []:
            if tc.function and tc.function.name:
                name.append(tc.function.name)
out["stream_tool_name"] = "".join(name)

try:
    openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=messages)
    out["bad_key_status"] = 200
except openai.AuthenticationError as e:
    out["bad_key_status"] = e.status_code

print(json.dumps(out))
